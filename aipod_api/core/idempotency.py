"""Idempotency keys: a retried write gets the first answer again, never a second effect.

The store (claims, answers, replays, purge) lives here, framework-free; the request hooks
that use it are aipod_api/http/idempotency.py.

Semantics (Stripe's, and draft-ietf-httpapi-idempotency-key-header; README "Idempotency"):

- Every POST, PUT, PATCH and DELETE accepts `Idempotency-Key`: 1–255 printable ASCII
  characters, raw or as an RFC 8941 string (`"..."`, the draft's form; both name the
  same key). Keys belong to the caller: the agent when authenticated, the client IP for
  register and login.
- The first completed answer (status, body, and the headers the endpoint set) is stored
  for `AIPOD_IDEMPOTENCY_TTL_S` (24 h); a retry with the same key gets it again, byte for
  byte, with `Idempotent-Replayed: true` — except an API key in the answer, see below.
- Same key with a different method, path, query or body: 422 `idempotency_key_reused`
  (compared by fingerprint: HMAC-SHA256 keyed with the Idempotency-Key over method, path,
  sorted query and the body re-serialised with sorted keys, so whitespace and key order
  do not matter). Same key while the first request still runs: 409
  `idempotency_key_in_use` with `Retry-After: 1`, at once, without waiting for it.
- Not stored (a retry runs again): 400 (invalid: nothing ran), 413, 429 (not now), every
  5xx (the request failed and was rolled back), and this layer's own 409/422.

How it is exactly once:

1. Claim. A read looks the key up first (so a duplicate of a running request is answered
   without queueing for SQLite's writer); if it is free, a short write transaction of its
   own inserts the row as `running` with a random lock token. (scope, key_hash) is unique:
   of concurrent first requests exactly one inserts (`ON CONFLICT DO NOTHING`), the
   others see its row.
2. Effect and answer together. The request runs in its own transaction (aipod_api/http/context.py);
   just before that commits, the answer is written into the row (`running` → `done`,
   conditional on the lock token) in the same transaction. A crash leaves either both or
   neither: the effect never exists without its stored answer.
3. A crashed claim stays `running`; after `AIPOD_IDEMPOTENCY_LOCK_S` a retry takes it
   over (new lock token, compare-and-set on the old one). Should the first attempt still
   be alive, its step 2 finds the token changed and rolls back its own effects (answering
   409 in_use), so two attempts can never both commit.
4. An error answer that is stored (401/403/404/409...) is written after the request's
   transaction has rolled back, in a short transaction of its own; an answer that is not
   stored releases the claim (deletes the row) the same way. Both happen before the
   answer leaves the server.

Secrets: register, login and key creation answer a plain API key. It is never stored:
the stored body has `api_key: null` and the row records which key was issued. A replay
(the first answer was lost, so nobody holds that key) revokes that key and issues a
fresh one to the same agent with the same label, in one transaction, records the new key
in the row and answers it. If the recorded key has been used or revoked since, someone
did receive it: the replay issues nothing and answers 409 `idempotency_key_secret_used`.
The key itself is stored only as its SHA-256; the fingerprint is keyed with it, so a
database copy does not reveal passwords sent to login.

Expired rows are purged by the background sweep (`purge_expired`, tasks/sweep.py); an
expired row counts as absent even before it is purged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    exists,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from aipod_api.core.db import ReadConnections, transaction
from aipod_api.core.errors import ApiError, Conflict, FieldError
from aipod_api.core.prepared import Prepared
from aipod_api.core.tables import idempotency_keys as keys_table
from aipod_api.core.types import KEY_ID

log = logging.getLogger("aipod_api")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY_LENGTH = 255
PURGE_BATCH = 1000

_RAW_KEY = re.compile(rf"[\x20-\x7e]{{1,{MAX_KEY_LENGTH}}}")
# RFC 8941 sf-string: printable ASCII except `"` and `\`, which are escaped as \" and \\.
_SF_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
_SF_ESCAPE = re.compile(r'\\(["\\])')
# Headers that belong to the request that carried an answer, not to the answer: a
# replay gets its own.
PER_REQUEST_HEADERS = frozenset(
    {
        "content-length",
        "date",
        "retry-after",
        "server",
        "set-cookie",
        "vary",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-request-id",
    }
)


class IdempotencyKeyReused(ApiError):
    status = 422
    key = "idempotency_key_reused"


class IdempotencyKeyInUse(Conflict):
    key = "idempotency_key_in_use"

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


class IdempotencySecretUsed(Conflict):
    key = "idempotency_key_secret_used"


class Reissue(Protocol):
    """Revoke the unused key `key_seq` and issue its replacement (auth.service.reissue_key):
    returns the new key's fields and the old key's hash, or None if it was used/revoked."""

    def __call__(
        self, conn: Connection, *, key_seq: int, now: int
    ) -> tuple[Mapping[str, Any], str] | None: ...


class Revoked(Protocol):
    """Called with the revoked key's hash once its revocation has committed."""

    def __call__(self, key_hash: str) -> None: ...


# --- the request's identity -----------------------------------------------------------------


def parse_key(raw: str) -> str:
    """The key named by an `Idempotency-Key` header value; 400 when it is malformed."""
    value = raw
    quoted = _SF_STRING.fullmatch(value)
    if quoted is not None:
        value = _SF_ESCAPE.sub(r"\1", quoted.group(1))
    if _RAW_KEY.fullmatch(value) is None:
        raise FieldError(HEADER, "invalid_idempotency_key", max_length=MAX_KEY_LENGTH)
    return value


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def _exact(value: Any) -> Any:
    """A money amount the body parse read exactly (core/inputs.py) as its JSON number."""
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value.normalize(), "f").encode())
    raise TypeError(f"{type(value).__name__} is not JSON")


def fingerprint(key: str, *, method: str, path: str, query: str, body: Any) -> str:
    """What a retry must repeat: method, path, query (in any order) and body (in any
    whitespace and key order). Keyed with the Idempotency-Key, so that the stored value
    says nothing about a body (a password) to whoever lacks the key."""
    canonical = (
        b"" if body is None else orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=_exact)
    )
    params = "&".join(sorted(query.split("&"))) if query else ""
    message = b"\0".join(
        (
            method.encode("ascii"),
            path.encode("utf-8", "replace"),
            params.encode("latin-1", "replace"),
            canonical,
        )
    )
    return hmac.new(key.encode("ascii"), message, hashlib.sha256).hexdigest()


def is_stored(status: int) -> bool:
    """Every completed answer is kept, except those that mean "this did not run, send it
    again": 400 (invalid), 413 (too large), 429 (not now) and every 5xx."""
    return status < 500 and status not in (400, 413, 429)


# --- the store (framework-free: connections and engines) ------------------------------------


@dataclass
class Claim:
    """This attempt's hold on a key. `stage`: claimed → written (the answer is in the
    request's transaction) → closed (nothing left to do)."""

    seq: int
    token: str
    stage: str = "claimed"
    status: int = 0
    headers: list[list[str]] | None = None
    body: bytes = b""


# The statements every keyed request runs, compiled once (core/prepared.py).
_FIND = Prepared(
    select(keys_table).where(
        and_(
            keys_table.c.scope == bindparam("scope"),
            keys_table.c.key_hash == bindparam("key_hash"),
        )
    )
)
_INSERT_COLUMNS = [c.name for c in keys_table.columns if c.name != "seq"]
_INSERT = {
    name: Prepared(
        dialect.insert(keys_table)
        .values({c: bindparam(f"v_{c}") for c in _INSERT_COLUMNS})
        .on_conflict_do_nothing(index_elements=[keys_table.c.scope, keys_table.c.key_hash])
        .returning(keys_table.c.seq)
    )
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_HELD = and_(
    keys_table.c.seq == bindparam("p_seq"),
    keys_table.c.lock_token == bindparam("p_token"),
    keys_table.c.state == "running",
)
_FINISH = Prepared(
    update(keys_table)
    .where(_HELD)
    .values(
        state="done",
        status=bindparam("v_status"),
        headers=bindparam("v_headers"),
        body=bindparam("v_body"),
        secret_key_seq=bindparam("v_secret_key_seq"),
    )
)
_RELEASE = Prepared(delete(keys_table).where(_HELD))


def _find(conn: Connection, scope: str, key_hash: str) -> Any:
    return _FIND.execute(conn, {"scope": scope, "key_hash": key_hash}).first()


def _judge(row: Any, fp: str, *, now: int, lock_s: int) -> Any:
    """The existing row decides: its answer to replay (returned), a refusal (raised), or
    None when the key is free to claim (expired, or its request died)."""
    if row.expires_at <= now:
        return None
    if not hmac.compare_digest(row.fingerprint, fp):
        raise IdempotencyKeyReused(
            data={"method": row.method, "path": row.path}, method=row.method, path=row.path
        )
    if row.state == "done":
        return row
    if row.locked_at + lock_s > now:
        raise IdempotencyKeyInUse()
    return None


def _insert(conn: Connection, values: dict[str, Any]) -> int | None:
    params = {f"v_{c}": values[c] for c in _INSERT_COLUMNS}
    seq = _INSERT[conn.dialect.name].execute(conn, params).scalar()
    return None if seq is None else int(seq)


def begin(
    engine: Engine,
    *,
    scope: str,
    key_hash: str,
    fp: str,
    method: str,
    path: str,
    now: int,
    ttl_s: int,
    lock_s: int,
    readers: ReadConnections | None = None,
) -> Claim | Any:
    """Claim the key (a `Claim`) or return the stored row to replay; raise 409/422.
    `readers`: SQLite's kept read connections (core/db.py), for the first look."""
    with transaction(engine, write=False, readers=readers) as conn:
        row = _find(conn, scope, key_hash)
    if row is not None:
        done = _judge(row, fp, now=now, lock_s=lock_s)
        if done is not None:
            return done
    token = secrets.token_hex(16)
    values: dict[str, Any] = {
        "fingerprint": fp,
        "method": method,
        "path": path,
        "state": "running",
        "lock_token": token,
        "locked_at": now,
        "status": None,
        "headers": None,
        "body": None,
        "secret_key_seq": None,
        "created_at": now,
        "expires_at": now + ttl_s,
    }
    with transaction(engine, write=True) as conn:
        if row is None:
            seq = _insert(conn, {"scope": scope, "key_hash": key_hash, **values})
            if seq is not None:
                return Claim(seq, token)
            row = _find(conn, scope, key_hash)  # a concurrent first request won
            if row is None:  # ... and was released since: let the client try again
                raise IdempotencyKeyInUse()
            done = _judge(row, fp, now=now, lock_s=lock_s)
            if done is not None:
                return done
        # Expired or abandoned: take it over — if it still is (compare-and-set on the
        # token and on the condition: the first attempt may have just finished).
        claimable = or_(
            keys_table.c.expires_at <= now,
            and_(keys_table.c.state == "running", keys_table.c.locked_at + lock_s <= now),
        )
        taken = conn.execute(
            update(keys_table)
            .where(
                and_(
                    keys_table.c.seq == row.seq,
                    keys_table.c.lock_token == row.lock_token,
                    claimable,
                )
            )
            .values(**values)
        ).rowcount
        if taken == 1:
            return Claim(int(row.seq), token)
        row = _find(conn, scope, key_hash)  # it changed meanwhile: judge it afresh
        if row is not None:
            done = _judge(row, fp, now=now, lock_s=lock_s)
            if done is not None:
                return done
    raise IdempotencyKeyInUse()


def finish(
    conn: Connection,
    claim: Claim,
    *,
    status: int,
    headers: list[list[str]],
    body: bytes,
    secret_key_seq: int | None,
) -> bool:
    """Store the answer, if this attempt still holds the key (False: it lost it)."""
    result = _FINISH.execute(
        conn,
        {
            "p_seq": claim.seq,
            "p_token": claim.token,
            "v_status": status,
            "v_headers": orjson.dumps(headers).decode(),
            "v_body": body,
            "v_secret_key_seq": secret_key_seq,
        },
    )
    return result.rowcount == 1


def release(conn: Connection, claim: Claim) -> None:
    """Forget the claim (its answer is not stored): the next attempt runs afresh."""
    _RELEASE.execute(conn, {"p_seq": claim.seq, "p_token": claim.token})


def redact(body: bytes) -> tuple[bytes, int | None] | None:
    """The body to store and the API key it issued (its plain value replaced by null);
    None when an API key cannot be accounted for (then nothing may be stored)."""
    if b'"api_key"' not in body:
        return body, None
    doc = orjson.loads(body)
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("api_key"), str):
        return body, None
    key_id = data.get("key_id")
    seq = KEY_ID.parse(key_id) if isinstance(key_id, str) else None
    if seq is None:
        return None
    data["api_key"] = None
    return orjson.dumps(doc), seq


def _with_key(stored: bytes, key: Mapping[str, Any]) -> bytes:
    doc = orjson.loads(stored)
    data = doc["data"]
    data["api_key"] = key["api_key"]
    data["key_id"] = key["key_id"]
    if "created_at" in data:
        data["created_at"] = key["created_at"]
    return orjson.dumps(doc)


def replay_with_new_key(
    engine: Engine, row: Any, *, now: int, reissue: Reissue, revoked: Revoked
) -> bytes:
    """The stored body with a fresh API key replacing the (redacted) one the first
    attempt issued, which is revoked in the same transaction."""
    old_seq = int(row.secret_key_seq)
    with transaction(engine, write=True) as conn:
        # Lock the row first: of two concurrent replays one rotates, the other waits and
        # then finds the recorded key changed.
        mine = conn.execute(
            update(keys_table)
            .where(
                and_(
                    keys_table.c.seq == row.seq,
                    keys_table.c.state == "done",
                    keys_table.c.secret_key_seq == old_seq,
                )
            )
            .values(secret_key_seq=old_seq)
        ).rowcount
        if mine != 1:
            raise IdempotencyKeyInUse()
        issued = reissue(conn, key_seq=old_seq, now=now)
        if issued is None:
            raise IdempotencySecretUsed()
        key, old_hash = issued
        body = _with_key(row.body, key)
        stored = redact(body)
        if stored is None:  # pragma: no cover - reissue returns a well-formed key_id
            raise RuntimeError("reissued key has no key id")
        conn.execute(
            update(keys_table)
            .where(keys_table.c.seq == row.seq)
            .values(body=stored[0], secret_key_seq=stored[1])
        )
    revoked(old_hash)
    return body


def purge_expired(engine: Engine, *, now: int, batch: int = PURGE_BATCH) -> int:
    """Delete expired rows, in short batches; a read probe first, so an idle call writes
    nothing."""
    with transaction(engine, write=False) as conn:
        if not conn.execute(select(exists().where(keys_table.c.expires_at <= now))).scalar():
            return 0
    total = 0
    while True:
        doomed = (
            select(keys_table.c.seq)
            .where(keys_table.c.expires_at <= now)
            .order_by(keys_table.c.expires_at)
            .limit(batch)
        )
        with transaction(engine, write=True) as conn:
            done = conn.execute(delete(keys_table).where(keys_table.c.seq.in_(doomed))).rowcount
        total += done
        if done < batch:
            return total
