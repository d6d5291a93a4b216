"""The idempotency-key request hooks (the store and its semantics: core/idempotency.py)."""

from __future__ import annotations

import logging

import orjson
from flask import Flask, Response, g, request

from aipod_api.core.db import transaction
from aipod_api.core.errors import ApiError
from aipod_api.core.idempotency import (
    HEADER,
    METHODS,
    PER_REQUEST_HEADERS,
    REPLAYED_HEADER,
    Claim,
    IdempotencyKeyInUse,
    Reissue,
    Revoked,
    begin,
    fingerprint,
    finish,
    is_stored,
    key_digest,
    parse_key,
    redact,
    release,
    replay_with_new_key,
)
from aipod_api.http.context import db, only_with, state
from aipod_api.http.errors import error_response

log = logging.getLogger("aipod_api")
# The hooks do nothing without the header, and are not called then (`only_with`).
ENVIRON_KEY = "HTTP_" + HEADER.upper().replace("-", "_")


# --- the request hooks ----------------------------------------------------------------------


def _scope() -> str:
    principal = g.get("principal")
    if principal is not None:
        return f"agent:{principal.agent_id}"
    return f"ip:{request.remote_addr or 'unknown'}"


def _answer_headers(response: Response) -> list[list[str]]:
    return [
        [name, value]
        for name, value in response.headers.items()
        if name.lower() not in PER_REQUEST_HEADERS
        and not name.lower().startswith("access-control-")
    ]


def install(app: Flask, *, reissue: Reissue, revoked: Revoked) -> None:
    """Claim/replay before the view and the answer before the commit. Register after
    `init_request_scope` (so this after-request hook runs before its commit) and after
    the auth guard (so the caller is known and the body parsed)."""

    @app.before_request
    @only_with(ENVIRON_KEY)
    def _idempotency_begin() -> Response | None:
        req = request._get_current_object()  # type: ignore[attr-defined]
        if req.method not in METHODS or req.url_rule is None:
            return None
        raw = req.headers.get(HEADER)
        if raw is None:
            return None
        key = parse_key(raw)
        st = state()
        now = st.now()
        outcome = begin(
            st.engine,
            scope=_scope(),
            key_hash=key_digest(key),
            fp=fingerprint(
                key,
                method=req.method,
                path=req.path,
                query=req.environ.get("QUERY_STRING", ""),
                body=req.get_json(silent=True),
            ),
            method=req.method,
            path=req.path,
            now=now,
            ttl_s=st.settings.idempotency_ttl_s,
            lock_s=st.settings.idempotency_lock_s,
            readers=st.readers,
        )
        if isinstance(outcome, Claim):
            g.idempotency_claim = outcome
            return None
        body = outcome.body
        if outcome.secret_key_seq is not None:
            body = replay_with_new_key(
                st.engine, outcome, now=now, reissue=reissue, revoked=revoked
            )
        resp = Response(
            body,
            status=outcome.status,
            headers=[(name, value) for name, value in orjson.loads(outcome.headers or "[]")],
        )
        resp.headers[REPLAYED_HEADER] = "true"
        return resp

    @app.after_request
    @only_with(ENVIRON_KEY)
    def _idempotency_store(response: Response) -> Response:
        claim: Claim | None = g.get("idempotency_claim")
        if claim is None or claim.stage != "claimed":
            return response
        claim.status = response.status_code
        claim.headers = _answer_headers(response)
        claim.body = response.get_data()
        if claim.status >= 400:
            return response  # stored or released once the rollback is done (install_finisher)
        stored = redact(claim.body)
        if stored is None:
            log.error("an answer with an API key but no key id; not committed")
            rid = g.get("request_id", "-")
            return error_response(ApiError("internal_error", status=500, request_id=rid))
        if not finish(
            db(),
            claim,
            status=claim.status,
            headers=claim.headers,
            body=stored[0],
            secret_key_seq=stored[1],
        ):
            # Another attempt took the key over (this one ran past the lock timeout): it
            # owns the key now, so this attempt's effects must not commit.
            claim.stage = "closed"
            return error_response(IdempotencyKeyInUse())
        claim.stage = "written"
        return response


def _close(claim: Claim, status: int) -> None:
    stage, claim.stage = claim.stage, "closed"
    if stage == "written" and status < 400:
        return  # committed together with the request's effects
    keep = stage == "claimed" and status == claim.status and status >= 400 and is_stored(status)
    try:
        with transaction(state().engine, write=True) as conn:
            stored = redact(claim.body) if keep else None
            if stored is not None and claim.headers is not None:
                finish(
                    conn,
                    claim,
                    status=status,
                    headers=claim.headers,
                    body=stored[0],
                    secret_key_seq=stored[1],
                )
            else:
                release(conn, claim)
    except Exception:  # the claim then expires after the lock timeout
        log.warning("could not settle an idempotency claim", exc_info=True)


def install_finisher(app: Flask) -> None:
    """Store an error answer, or release the claim, once the request's transaction has
    ended. Register before `init_request_scope`, so these hooks run after its own."""

    @app.after_request
    @only_with(ENVIRON_KEY)
    def _idempotency_finish(response: Response) -> Response:
        claim: Claim | None = g.get("idempotency_claim")
        if claim is not None and claim.stage != "closed":
            _close(claim, response.status_code)
        return response

    @app.teardown_request
    @only_with(ENVIRON_KEY)
    def _idempotency_teardown(_exc: BaseException | None) -> None:
        claim: Claim | None = g.pop("idempotency_claim", None)
        if claim is not None and claim.stage != "closed":
            _close(claim, 500)  # the request ended without an answer: free the key
