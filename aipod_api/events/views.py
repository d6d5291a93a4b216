"""Event routes: the feed and the stream (events/stream.py)."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask_openapi3 import APIBlueprint, Tag

from aipod_api.core.db import transaction
from aipod_api.core.errors import FieldError, TooManyRequests
from aipod_api.core.i18n import register_messages
from aipod_api.core.openapi import AUTH_ERRORS, Envelope, responses
from aipod_api.events import service
from aipod_api.events.notify import Hub
from aipod_api.events.schemas import MAX_CURSOR, EventFeed, EventsQuery, StreamQuery
from aipod_api.events.stream import EventStream
from aipod_api.http.context import caller_id, clock, db, reads, state
from aipod_api.http.envelope import ok
from aipod_api.state import AppState

register_messages(
    {
        "too_many_streams": (
            "打开的事件流过多(每个节点最多 {per_agent} 个,本进程最多 {per_process} 个)",
            "Too many open event streams (at most {per_agent} per agent, "
            "{per_process} per server process)",
        ),
        "last_event_id_invalid": (
            "Last-Event-ID 必须是非负整数(事件 id)",
            "Last-Event-ID must be a non-negative integer (an event id)",
        ),
    }
)

STREAM_PATH = "/v1/events/stream"
STREAM_HANDOFF = "aipod.stream"  # environ key: the RSGI bridge's list (core/rsgi.py)

tag = Tag(name="events", description="事件 Events: the feed and the live stream (SSE)")
bp = APIBlueprint(
    "events", __name__, url_prefix="/v1/events", abp_tags=[tag], abp_security=[{"bearer": []}]
)


class TooManyStreams(TooManyRequests):
    key = "too_many_streams"


@bp.get(
    "",
    summary="事件流水(按 id 递增)/ The event feed, oldest first",
    description=(
        "Events the caller may see with `id > after`, in id order. Pass `next_cursor` as "
        "`after` next time: an empty page (nothing new) still returns a cursor. Who sees "
        "what: the events of tasks you published or are assigned, ratings about you, "
        "memories shared with you, your own wallet, and `task.published` for open tasks "
        "you are eligible to accept. Kept for AIPOD_EVENT_RETENTION_DAYS (30) days."
    ),
    responses=responses(Envelope[EventFeed], errors=AUTH_ERRORS),
)
@reads
def list_events(query: EventsQuery) -> Response:
    data = service.feed_page(
        db(), caller_id(), after=query.after, types=query.types, limit=query.limit, now=clock()
    )
    return ok(data)


STREAM_RESPONSES: dict[Any, Any] = {
    200: {
        "description": (
            "`text/event-stream`: `id:` is the event id (the cursor), `event:` its type, "
            "`data:` the event as in the feed; `: heartbeat` comments in between"
        ),
        "content": {
            "text/event-stream": {
                # One Server-Sent Events message (schemathesis checks each one against it).
                "schema": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "description": "the event id (the cursor)"},
                        "event": {"type": "string", "description": "the event type"},
                        "data": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "description": "the event as in the feed (JSON)",
                        },
                    },
                }
            }
        },
    },
    **responses(None, errors=AUTH_ERRORS),
}


@bp.get(
    "/stream",
    summary="实时事件流(SSE)/ Live event stream (Server-Sent Events)",
    description=(
        "The feed, live. Resume with the `Last-Event-ID` header (or `after`): no gaps, no "
        "duplicates. A `: heartbeat` comment every AIPOD_EVENT_HEARTBEAT_S (15) seconds. "
        "At most AIPOD_EVENT_STREAMS_PER_AGENT open streams per agent and "
        "AIPOD_EVENT_STREAMS_PER_PROCESS per server process: 429 `too_many_streams` "
        "beyond. The server ends a stream after AIPOD_EVENT_STREAM_MAX_S; reconnect "
        "with `Last-Event-ID`."
    ),
    responses=STREAM_RESPONSES,
)
@reads
def stream_events(query: StreamQuery) -> Response:
    agent = caller_id()
    types = service.parse_types(query.types)
    cursor = _last_event_id()
    if cursor is None:
        cursor = query.after or 0
    st = state()
    hub = hub_of(st)
    handoff: list[Any] | None = request.environ.get(STREAM_HANDOFF)
    settings = st.settings
    if handoff is None and hub.open_streams >= settings.event_wsgi_streams:
        # A plain WSGI server: a stream holds a thread (events/stream.py).
        raise _too_many(st, "wsgi")
    refused = hub.acquire(agent)
    if refused is not None:
        raise _too_many(st, refused)
    stream = EventStream(
        hub=hub,
        agent_id=agent,
        cursor=cursor,
        read=_reader(st, agent, types),
        heartbeat_s=settings.event_heartbeat_s,
        max_s=settings.event_stream_max_s if handoff is not None else settings.event_wsgi_stream_s,
    )
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    if handoff is not None:
        handoff.append(stream)  # the bridge serves it on the event loop
        return Response(b"", status=200, mimetype="text/event-stream", headers=headers)
    try:
        return Response(stream.iterate(), status=200, mimetype="text/event-stream", headers=headers)
    except BaseException:
        stream.close()
        raise


def _too_many(st: AppState, which: str) -> TooManyStreams:
    """`which`: the limit met — "agent", "process", or "wsgi" (the fallback's)."""
    s = st.settings
    return TooManyStreams(
        headers={"Retry-After": "5"},
        data={"limit": which},
        per_agent=s.event_streams_per_agent,
        per_process=s.event_wsgi_streams if which == "wsgi" else s.event_streams_per_process,
    )


def _last_event_id() -> int | None:
    raw = request.headers.get("Last-Event-ID")
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_CURSOR:
        raise FieldError("Last-Event-ID", "last_event_id_invalid")
    return int(raw)


def _reader(st: AppState, agent: str, types: tuple[str, ...] | None) -> Any:
    """One short read of the agent's new events: in a borrowed thread, holding the
    execution lock (when the server uses one) like any request, never across a wait."""
    lock = st.exec_lock
    engine = st.engine

    def read(after: int) -> service.Feed:
        if lock is not None:
            lock.acquire()
        try:
            with transaction(engine, write=False) as conn:
                return service.list_for_agent(
                    conn, agent, after=after, types=types, limit=100, now=st.now()
                )
        finally:
            if lock is not None:
                lock.release()

    return read


def hub_of(st: AppState) -> Hub:
    hub: Hub = st.event_hub
    return hub
