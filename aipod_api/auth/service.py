"""Registration, login and API keys. Framework-free; callers own the transaction.

API keys are `fg_live_` + 32 base62 characters (190 bits). Only their SHA-256 is stored
(a fast hash is right for high-entropy secrets: nothing to brute-force); the lookup is by
hash and the final comparison is constant-time. Passwords use argon2id.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from aipod_api.agents import service as agents_service
from aipod_api.core.errors import ApiError, Conflict, NotFound, Unauthorized
from aipod_api.core.execlock import blocking
from aipod_api.core.tables import agents, api_keys
from aipod_api.core.types import KEY_ID, iso
from aipod_api.wallet import service as wallet

KEY_PREFIX = "fg_live_"
DEMO_KEY = "fg_live_demo_xxxxxxxxxxxx"
_ALPHABET = string.ascii_letters + string.digits
_KEY_SHAPE = re.compile(re.escape(KEY_PREFIX) + "[A-Za-z0-9]{32}")
_hasher = PasswordHasher()  # argon2id with the library's recommended parameters
# A real hash of a random password, verified when the user is unknown so that a wrong
# username costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class UsernameTaken(Conflict):
    key = "username_taken"


class EmailTaken(Conflict):
    key = "email_taken"


class BadCredentials(Unauthorized):
    key = "bad_credentials"
    error_code = "invalid_credentials"


class KeyNotFound(NotFound):
    key = "key_not_found"


class LastKey(Conflict):
    key = "last_key"


@dataclass(frozen=True)
class Principal:
    agent_id: str
    key_seq: int
    key_hash: str
    last_used_at: int | None


def new_api_key() -> str:
    return KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(32))


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def looks_like_key(api_key: str) -> bool:
    if api_key == DEMO_KEY:
        return True
    return _KEY_SHAPE.fullmatch(api_key) is not None


def hash_password(password: str) -> str:
    with blocking():  # ~50 ms off the GIL: let other requests run (core/execlock.py)
        return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    with blocking():
        if password_hash is None:
            with contextlib.suppress(VerificationError, InvalidHashError):
                _hasher.verify(_DUMMY_HASH, password)
            return False
        try:
            return _hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def issue_key(
    conn: Connection, *, agent_id: str, label: str | None, now: int, plain: str | None = None
) -> dict[str, Any]:
    api_key = plain or new_api_key()
    seq = conn.execute(
        insert(api_keys)
        .values(
            agent_id=agent_id,
            key_hash=hash_key(api_key),
            prefix=api_key[:12],
            label=label,
            created_at=now,
            last_used_at=None,
            revoked_at=None,
        )
        .returning(api_keys.c.seq)
    ).scalar_one()
    return {
        "key_id": KEY_ID.format(int(seq)),
        "api_key": api_key,
        "label": label,
        "created_at": iso(now),
    }


def reissue_key(conn: Connection, *, key_seq: int, now: int) -> tuple[dict[str, Any], str] | None:
    """Replace an issued key that nobody has used: revoke it and issue a new one to the
    same agent with the same label, in the caller's transaction.

    For the replay of a stored answer whose key was redacted (core/idempotency.py): the
    first answer was lost, so its key can only be orphaned. Returns the new key (as
    `issue_key` does) and the old key's hash (for cache eviction); None when the key has
    been used or revoked meanwhile (someone did receive it) — then nothing changes."""
    unused = and_(
        api_keys.c.seq == key_seq,
        api_keys.c.revoked_at.is_(None),
        api_keys.c.last_used_at.is_(None),
    )
    row = conn.execute(
        select(api_keys.c.agent_id, api_keys.c.label, api_keys.c.key_hash).where(unused)
    ).first()
    if row is None:
        return None
    if conn.execute(update(api_keys).where(unused).values(revoked_at=now)).rowcount != 1:
        return None
    return issue_key(conn, agent_id=row.agent_id, label=row.label, now=now), str(row.key_hash)


def register(
    conn: Connection,
    *,
    username: str,
    email: str,
    capabilities: list[str],
    password: str | None,
    nickname: str | None,
    signup_credit_cents: int,
    now: int,
) -> dict[str, Any]:
    if agents_service.username_taken(conn, username):
        raise UsernameTaken()
    if agents_service.email_taken(conn, email):
        raise EmailTaken()
    password_hash = hash_password(password) if password is not None else None
    try:
        agent_id = agents_service.create_agent(
            conn,
            username=username,
            email=email,
            nickname=nickname,
            capabilities=capabilities,
            password_hash=password_hash,
            now=now,
        )
    except IntegrityError as exc:  # a concurrent registration won the race
        if "email" in str(exc.orig).lower():
            raise EmailTaken() from None
        raise UsernameTaken() from None
    wallet.grant_signup_credit(conn, agent_id=agent_id, amount_cents=signup_credit_cents, now=now)
    key = issue_key(conn, agent_id=agent_id, label="signup", now=now)
    agent = agents_service.get_agent(conn, agent_id, viewer_id=agent_id)
    return {"api_key": key["api_key"], "node_id": agent_id, "key_id": key["key_id"], "agent": agent}


def check_password(conn: Connection, *, username: str, password: str) -> str:
    """Return the agent_id when the password is right; raise BadCredentials otherwise."""
    row = conn.execute(
        select(agents.c.agent_id, agents.c.password_hash).where(
            agents.c.agent_id == username.lower()
        )
    ).first()
    if row is None:
        verify_password(None, password)
        raise BadCredentials()
    if not verify_password(row.password_hash, password):
        raise BadCredentials()
    return str(row.agent_id)


def authenticate(conn: Connection, api_key: str) -> Principal | None:
    """Find the live key; None when unknown or revoked."""
    if not looks_like_key(api_key):
        return None
    digest = hash_key(api_key)
    row = conn.execute(
        select(
            api_keys.c.seq, api_keys.c.agent_id, api_keys.c.key_hash, api_keys.c.last_used_at
        ).where(and_(api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None)))
    ).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return Principal(
        agent_id=row.agent_id,
        key_seq=row.seq,
        key_hash=row.key_hash,
        last_used_at=row.last_used_at,
    )


def touch_key(conn: Connection, *, key_seq: int, now: int) -> None:
    conn.execute(update(api_keys).where(api_keys.c.seq == key_seq).values(last_used_at=now))


def list_keys(
    conn: Connection, *, agent_id: str, page: int, page_size: int
) -> tuple[list[dict[str, Any]], int]:
    cond = and_(api_keys.c.agent_id == agent_id, api_keys.c.revoked_at.is_(None))
    total = int(conn.execute(select(func.count()).select_from(api_keys).where(cond)).scalar_one())
    rows = conn.execute(
        select(api_keys)
        .where(cond)
        .order_by(api_keys.c.seq.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    items = [
        {
            "key_id": KEY_ID.format(r.seq),
            "prefix": r.prefix,
            "label": r.label,
            "created_at": iso(r.created_at),
            "last_used_at": iso(r.last_used_at),
        }
        for r in rows
    ]
    return items, total


def revoke_key(conn: Connection, *, agent_id: str, key_id: str, now: int) -> str:
    """Revoke one of the caller's keys; returns its hash (for cache eviction)."""
    # Lock the owner's row so two concurrent revocations cannot both pass the
    # "not the last key" check (PostgreSQL; SQLite writers are serialised anyway).
    conn.execute(select(agents.c.seq).where(agents.c.agent_id == agent_id).with_for_update())
    seq = KEY_ID.parse(key_id)
    row = None
    if seq is not None:
        row = conn.execute(
            select(api_keys.c.seq, api_keys.c.key_hash).where(
                and_(
                    api_keys.c.seq == seq,
                    api_keys.c.agent_id == agent_id,
                    api_keys.c.revoked_at.is_(None),
                )
            )
        ).first()
    if row is None:
        # Another agent's key is reported as missing, never as forbidden: key ids
        # must not be probeable.
        raise KeyNotFound(key_id=key_id)
    live = conn.execute(
        select(func.count())
        .select_from(api_keys)
        .where(and_(api_keys.c.agent_id == agent_id, api_keys.c.revoked_at.is_(None)))
    ).scalar_one()
    if live <= 1:
        raise LastKey()
    result = conn.execute(
        update(api_keys)
        .where(and_(api_keys.c.seq == row.seq, api_keys.c.revoked_at.is_(None)))
        .values(revoked_at=now)
    )
    if result.rowcount != 1:
        raise KeyNotFound(key_id=key_id)
    return str(row.key_hash)


__all__ = ["ApiError", "Principal"]
