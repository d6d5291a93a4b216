"""Registration, login and API keys. Framework-free; callers own the transaction.

API keys are `fg_live_` + 32 base62 characters (190 bits). Only their SHA-256 is stored
(a fast hash is right for high-entropy secrets: nothing to brute-force); the lookup is by
hash and the final comparison is constant-time. Passwords use argon2id.

Password hashing (~50 ms of CPU) never runs inside a transaction or under the execution
lock: `verify_login` and `new_password_hash` read what they need in a short read, then
hash or verify with no transaction open (inside one of a bounded number of `HashSlots`;
beyond them: `HashingBusy`, a 503, at once); the write that follows is a short
transaction that re-checks what it relies on (`issue_login_key`, `create_account`).
`login` and `register` take the caller's `Tx` (core/db.py), opened lazily, so that its
connection is first asked for after the hash.

Login throttling is this module's rule, not the caller's: the `LoginLimiter` (the rate
windows, warehouse-style injected) is passed in, and every attempt is counted, right or
wrong, before its password is checked. Key-cache eviction is too: a revocation registers
the eviction (`evict`, e.g. `KeyCache.revoked`) to run after its transaction commits.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import re
import secrets
import string
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from aipod_api.agents import service as agents_service
from aipod_api.auth.schemas import KeyCreatedPublic, KeyPublic, LoginData, RegisterData
from aipod_api.core.clock import Clock
from aipod_api.core.db import Tx, after_commit, transaction
from aipod_api.core.errors import ApiError, Conflict, NotFound, TooManyRequests, Unauthorized
from aipod_api.core.execlock import blocking
from aipod_api.core.i18n import register_messages
from aipod_api.core.openapi import Deleted
from aipod_api.core.prepared import Prepared
from aipod_api.core.ratelimit import Decision, RateWindow
from aipod_api.core.tables import agents, api_keys
from aipod_api.core.types import KEY_ID, Page, iso, page_data
from aipod_api.trust import standing as trust_standing
from aipod_api.wallet import ledger

KEY_PREFIX = "fg_live_"
DEMO_KEY = "fg_live_demo_xxxxxxxxxxxx"
LOGIN_LABEL = "login"  # the label of keys issued by login (the ones login may recycle)
_ALPHABET = string.ascii_letters + string.digits
_KEY_SHAPE = re.compile(re.escape(KEY_PREFIX) + "[A-Za-z0-9]{32}")
_hasher = PasswordHasher()  # argon2id with the library's recommended parameters


@functools.cache
def _dummy_hash() -> str:
    """A real hash of a random password, verified when the user is unknown so that a
    wrong username costs as much time as a wrong password. Made on first use, not at
    import (an argon2 hash is 0.2 CPU-s here: every process start paid it)."""
    return _hasher.hash(secrets.token_urlsafe(16))


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


class TooManyKeys(Conflict):
    key = "too_many_keys"


class LoginKeysExhausted(Conflict):
    key = "login_keys_exhausted"


class DemoDisabled(Unauthorized):
    key = "demo_disabled"
    error_code = "demo_disabled"


class HashingBusy(ApiError):
    status = 503
    key = "hashing_busy"


def throttled(decision: Decision) -> TooManyRequests:
    """429 `login_throttled`: the attempt's budget is spent until `decision.reset_after`."""
    return TooManyRequests(
        "login_throttled",
        headers={"Retry-After": str(decision.reset_after)},
        retry_after=decision.reset_after,
    )


# Called with a revoked key's hash once its revocation has committed (`KeyCache.revoked`).
Evict = Callable[[str], None]


register_messages(
    {
        "too_many_keys": (
            "每个节点最多 {limit} 个有效 API Key,请先撤销不再使用的 Key"
            "(DELETE /v1/auth/keys/{{key_id}})",
            "An agent may hold at most {limit} active API keys; revoke one you no longer "
            "use first (DELETE /v1/auth/keys/{{key_id}})",
        ),
        "login_keys_exhausted": (
            "该节点已有 {limit} 个有效 API Key,且都不是登录签发的,登录不会自动撤销它们;"
            "请先撤销一个 Key(DELETE /v1/auth/keys/{{key_id}})",
            "This agent already holds {limit} active API keys, none of them issued by "
            "login, and login never revokes those; revoke one first "
            "(DELETE /v1/auth/keys/{{key_id}})",
        ),
        "demo_disabled": (
            "演示账号已停用:服务器未开启演示数据(--no-demo / AIPOD_DEMO=0)",
            "The demo account is disabled: this server runs without demo data "
            "(--no-demo / AIPOD_DEMO=0)",
        ),
        "hashing_busy": (
            "服务器正忙于其他密码校验(同时最多 {limit} 个),请 {retry_after} 秒后重试",
            "The server is busy checking other passwords (at most {limit} at once); "
            "retry in {retry_after} s",
        ),
    }
)


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


class HashSlots:
    """At most `limit` password hashes at once in this process; the next is refused at
    once (`HashingBusy`) instead of queueing: a queue of 50 ms CPU jobs would grow without
    bound under a login flood and hold every server thread."""

    RETRY_AFTER_S = 1

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._sem = threading.BoundedSemaphore(limit)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if not self._sem.acquire(blocking=False):
            raise HashingBusy(
                headers={"Retry-After": str(self.RETRY_AFTER_S)},
                limit=self.limit,
                retry_after=self.RETRY_AFTER_S,
            )
        try:
            yield
        finally:
            self._sem.release()


def hash_password(password: str) -> str:
    with blocking():  # ~50 ms off the GIL: let other requests run (core/execlock.py)
        return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    with blocking():
        dummy = _dummy_hash()  # made by the first call, whichever the case: no tell
        if password_hash is None:
            with contextlib.suppress(VerificationError, InvalidHashError):
                _hasher.verify(dummy, password)
            return False
        try:
            return _hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def issue_key(
    conn: Connection, *, agent_id: str, label: str | None, now: int, plain: str | None = None
) -> KeyCreatedPublic:
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


def reissue_key(conn: Connection, *, key_seq: int, now: int) -> tuple[KeyCreatedPublic, str] | None:
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
    tx: Tx,
    *,
    username: str,
    email: str,
    password: str | None,
    capabilities: list[str],
    nickname: str | None,
    signup_credit_cents: int,
    clock: Clock,
    slot: AbstractContextManager[object],
    operators: frozenset[str] = frozenset(),
) -> RegisterData:
    """POST /v1/auth/register: a new agent, its signup credit and first key, in `tx`.

    A password is hashed first (`new_password_hash`: a taken name refused at once, the
    hash inside `slot`, e.g. `HashSlots.slot()`, with no transaction open); `tx`'s
    connection is asked for only then, and `create_account` checks the names again (and
    marks an agent id among `operators` a trust seed)."""
    password_hash = None
    if password is not None:
        password_hash = new_password_hash(
            tx.engine, username=username, email=email, password=password, slot=slot
        )
    return create_account(
        tx.connection(),
        username=username,
        email=email,
        capabilities=capabilities,
        password_hash=password_hash,
        nickname=nickname,
        signup_credit_cents=signup_credit_cents,
        # the clock read after the hash: an account's age decides its raters' standing
        now=clock.now(),
        operators=operators,
    )


def create_account(
    conn: Connection,
    *,
    username: str,
    email: str,
    capabilities: list[str],
    password_hash: str | None,
    nickname: str | None,
    signup_credit_cents: int,
    now: int,
    operators: frozenset[str] = frozenset(),
) -> RegisterData:
    """Create the agent, its signup credit and first key. `password_hash` comes from
    `hash_password`, computed before this transaction began. An agent whose id is one of
    `operators` (AIPOD_OPERATORS) is a pre-trusted seed of earned standing (trust)."""
    check_available(conn, username=username, email=email)
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
    ledger.grant_signup_credit(conn, agent_id=agent_id, amount_cents=signup_credit_cents, now=now)
    if agent_id in operators:
        trust_standing.mark_seeds(conn, {agent_id})
    key = issue_key(conn, agent_id=agent_id, label="signup", now=now)
    agent = agents_service.get_owner_view(conn, agent_id=agent_id)
    return {"api_key": key["api_key"], "node_id": agent_id, "key_id": key["key_id"], "agent": agent}


def check_available(conn: Connection, *, username: str, email: str) -> None:
    """409 when the username or the email is taken (both ignoring case)."""
    if agents_service.username_taken(conn, username=username):
        raise UsernameTaken()
    if agents_service.email_taken(conn, email=email):
        raise EmailTaken()


@dataclass(frozen=True)
class LoginRecord:
    agent_id: str
    password_hash: str | None


def login_record(conn: Connection, *, username: str) -> LoginRecord | None:
    """What login needs to verify a password (one indexed read); None when unknown."""
    row = conn.execute(
        select(agents.c.agent_id, agents.c.password_hash).where(
            agents.c.agent_id == username.lower()
        )
    ).first()
    if row is None:
        return None
    return LoginRecord(agent_id=str(row.agent_id), password_hash=row.password_hash)


def check_password(record: LoginRecord | None, password: str) -> LoginRecord:
    """Verify `password` (with no transaction open: this is the slow part). Unknown
    users and agents without a password cost the same and fail the same way."""
    if record is None or record.password_hash is None:
        verify_password(None, password)
        raise BadCredentials()
    if not verify_password(record.password_hash, password):
        raise BadCredentials()
    return record


def new_password_hash(
    engine: Engine,
    *,
    username: str,
    email: str,
    password: str,
    slot: contextlib.AbstractContextManager[Any] | None = None,
) -> str:
    """Registration's hash, computed (inside `slot`, e.g. `HashSlots.slot()`) with no
    transaction open, after a short read that refuses a taken name at once: a taken name
    costs no hashing. `register` checks again in its own transaction, where the unique
    indexes decide a race."""
    with transaction(engine, write=False) as conn:
        check_available(conn, username=username, email=email)
    with slot or contextlib.nullcontext():
        return hash_password(password)


def verify_login(engine: Engine, *, username: str, password: str) -> LoginRecord:
    """The agent whose password this is, or BadCredentials: the stored hash is read in a
    short read, and verified (the slow part) once that read has ended."""
    with transaction(engine, write=False) as conn:
        record = login_record(conn, username=username)
    return check_password(record, password)


@dataclass(frozen=True)
class LoginLimiter:
    """The budgets of login attempts (core/ratelimit.py windows): `per_client` per
    (username, client address), so one address's guesses cannot lock the owner out from
    another; `per_username` per username from any address, a slower ceiling against
    guesses spread over many addresses."""

    per_client: RateWindow
    per_username: RateWindow

    def buckets(self, username: str, client: str) -> tuple[tuple[RateWindow, str], ...]:
        return ((self.per_client, f"{username}|{client}"), (self.per_username, username))


def login(
    tx: Tx,
    *,
    username: str,
    password: str,
    client: str,
    limiter: LoginLimiter,
    slot: AbstractContextManager[object],
    clock: Clock,
    max_keys: int,
    evict: Evict,
    disabled_owner: str | None = None,
) -> LoginData:
    """POST /v1/auth/login: a new key for the agent whose password this is, in `tx`.

    `client`: the caller's address (the per-client budget's bucket). `disabled_owner`: the
    demo account when demo is off (it may not log in: `DemoDisabled`). Every attempt
    counts, right or wrong, before its password is checked: an exhausted budget is
    refused (429 `login_throttled`) without taking a hashing slot; then, inside `slot`
    (all taken: `HashingBusy` at once, costing no attempt), each budget is hit
    atomically, so at most the limit of concurrent attempts ever reach the check, and
    the password is verified with no transaction open. Only then is `tx`'s connection
    asked for: the key is issued (`issue_login_key`) and the keys it recycled are
    evicted from the key cache (`evict`) once `tx` has committed."""
    username = username.lower()
    if disabled_owner is not None and username == disabled_owner:
        raise DemoDisabled()
    windows = limiter.buckets(username, client)
    for window, bucket in windows:
        seen = window.test(bucket)
        if not seen.allowed:
            raise throttled(seen)
    with slot:
        for window, bucket in windows:
            decision = window.hit(bucket)
            if not decision.allowed:
                raise throttled(decision)
        record = verify_login(tx.engine, username=username, password=password)
    conn = tx.connection()
    key, revoked = issue_login_key(conn, record=record, now=clock.now(), max_keys=max_keys)
    for _key_id, key_hash in revoked:
        after_commit(conn, functools.partial(evict, key_hash))
    return {
        "api_key": key["api_key"],
        "node_id": record.agent_id,
        "key_id": key["key_id"],
        "revoked_key_ids": [key_id for key_id, _ in revoked],
    }


def _lock_agent(conn: Connection, agent_id: str) -> Any:
    """The agent's row, locked until commit (PostgreSQL; SQLite writers are serialised
    anyway), so that key-count checks of concurrent requests cannot interleave."""
    return conn.execute(
        select(agents.c.seq, agents.c.password_hash)
        .where(agents.c.agent_id == agent_id)
        .with_for_update()
    ).first()


def _live_keys(conn: Connection, agent_id: str) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(api_keys)
            .where(and_(api_keys.c.agent_id == agent_id, api_keys.c.revoked_at.is_(None)))
        ).scalar_one()
    )


def create_key(
    conn: Connection, *, agent_id: str, label: str | None, now: int, max_keys: int
) -> KeyCreatedPublic:
    """POST /v1/auth/keys: a new key, refused (409) when the agent holds `max_keys`."""
    _lock_agent(conn, agent_id)
    live = _live_keys(conn, agent_id)
    if live >= max_keys:
        raise TooManyKeys(limit=max_keys, data={"limit": max_keys, "active": live})
    return issue_key(conn, agent_id=agent_id, label=label, now=now)


def issue_login_key(
    conn: Connection, *, record: LoginRecord, now: int, max_keys: int
) -> tuple[KeyCreatedPublic, list[tuple[str, str]]]:
    """The key a successful login issues, in the write transaction after the check.

    The password verified outside the transaction must still be the agent's. At the
    key cap, the agent's oldest login-issued keys are revoked to make room (a login
    never revokes a key made with POST /v1/auth/keys, the signup key or the demo key;
    if there is no login-issued key to recycle, 409). Returns the key and the
    `(key_id, key_hash)` of each revoked key.
    """
    row = _lock_agent(conn, record.agent_id)
    if row is None or row.password_hash != record.password_hash:
        raise BadCredentials()  # the password changed (or the agent went) meanwhile
    live = _live_keys(conn, record.agent_id)
    revoked: list[tuple[str, str]] = []
    if live >= max_keys:
        excess = live - max_keys + 1
        victims = conn.execute(
            select(api_keys.c.seq, api_keys.c.key_hash)
            .where(
                and_(
                    api_keys.c.agent_id == record.agent_id,
                    api_keys.c.revoked_at.is_(None),
                    api_keys.c.label == LOGIN_LABEL,
                )
            )
            .order_by(api_keys.c.seq)
            .limit(excess)
        ).all()
        if len(victims) < excess:
            raise LoginKeysExhausted(limit=max_keys, data={"limit": max_keys, "active": live})
        conn.execute(
            update(api_keys)
            .where(
                and_(
                    api_keys.c.seq.in_([v.seq for v in victims]),
                    api_keys.c.revoked_at.is_(None),
                )
            )
            .values(revoked_at=now)
        )
        revoked = [(KEY_ID.format(int(v.seq)), str(v.key_hash)) for v in victims]
    key = issue_key(conn, agent_id=record.agent_id, label=LOGIN_LABEL, now=now)
    return key, revoked


def demo_owner(conn: Connection) -> str | None:
    """The agent the demo data created (the owner of the demo key, revoked or not);
    None on a database that never had demo data. A user who registers the username
    `demo` on such a database is not the demo account."""
    row = conn.execute(
        select(api_keys.c.agent_id).where(api_keys.c.key_hash == hash_key(DEMO_KEY)).limit(1)
    ).first()
    return None if row is None else str(row.agent_id)


# Prepared (core/prepared.py): with the key cache off (AIPOD_KEY_CACHE_TTL_S=0) this runs
# on every authenticated request.
_LIVE_KEY = Prepared(
    select(api_keys.c.seq, api_keys.c.agent_id, api_keys.c.key_hash, api_keys.c.last_used_at).where(
        and_(api_keys.c.key_hash == bindparam("digest"), api_keys.c.revoked_at.is_(None))
    )
)


def authenticate(conn: Connection, *, api_key: str) -> Principal | None:
    """Find the live key; None when unknown or revoked."""
    if not looks_like_key(api_key):
        return None
    digest = hash_key(api_key)
    row = _LIVE_KEY.execute(conn, {"digest": digest}).first()
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


_TOUCH = (
    update(api_keys).where(api_keys.c.seq == bindparam("s")).values(last_used_at=bindparam("t"))
)


def touch_keys(conn: Connection, uses: list[tuple[int, int]]) -> None:
    """Record several keys' last use at once: (key seq, UNIX seconds) pairs."""
    if uses:
        conn.execute(_TOUCH, [{"s": seq, "t": now} for seq, now in uses])


def list_keys(conn: Connection, *, agent_id: str, page: int, page_size: int) -> Page[KeyPublic]:
    """The caller's live keys, newest first."""
    cond = and_(api_keys.c.agent_id == agent_id, api_keys.c.revoked_at.is_(None))
    total = int(conn.execute(select(func.count()).select_from(api_keys).where(cond)).scalar_one())
    rows = conn.execute(
        select(api_keys)
        .where(cond)
        .order_by(api_keys.c.seq.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    items: list[KeyPublic] = [
        {
            "key_id": KEY_ID.format(r.seq),
            "prefix": r.prefix,
            "label": r.label,
            "created_at": iso(r.created_at),
            "last_used_at": iso(r.last_used_at),
        }
        for r in rows
    ]
    return page_data(items, page=page, page_size=page_size, total=total)


def revoke_key(conn: Connection, *, agent_id: str, key_id: str, now: int, evict: Evict) -> Deleted:
    """Revoke one of the caller's keys (never the last); `evict` (e.g. `KeyCache.revoked`)
    is called with its hash once the transaction has committed, so that the cache drops
    it before the answer is sent and never before the revocation is durable."""
    # Lock the owner's row so two concurrent revocations cannot both pass the
    # "not the last key" check (PostgreSQL; SQLite writers are serialised anyway).
    _lock_agent(conn, agent_id)
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
    live = _live_keys(conn, agent_id)
    if live <= 1:
        raise LastKey()
    result = conn.execute(
        update(api_keys)
        .where(and_(api_keys.c.seq == row.seq, api_keys.c.revoked_at.is_(None)))
        .values(revoked_at=now)
    )
    if result.rowcount != 1:
        raise KeyNotFound(key_id=key_id)
    after_commit(conn, functools.partial(evict, str(row.key_hash)))
    return {"id": key_id, "deleted": True}


__all__ = ["ApiError", "Principal"]
