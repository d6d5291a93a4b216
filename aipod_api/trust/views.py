"""Trust routes: rate a completed task; an agent's score and rating history."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from aipod_api.core.openapi import AUTH_ERRORS, Envelope, responses
from aipod_api.http.context import caller_id, clock, db, reads, writes
from aipod_api.http.envelope import created, ok
from aipod_api.trust import service
from aipod_api.trust.schemas import RatingCreate, RatingResult, TrustPath, TrustPublic, TrustQuery

tag = Tag(name="trust", description="信任分 Trust: ratings of completed tasks and scores")
bp = APIBlueprint(
    "trust", __name__, url_prefix="/v1/trust", abp_tags=[tag], abp_security=[{"bearer": []}]
)


@bp.post(
    "/rate",
    summary="评价已完成的任务 / Rate a completed task",
    description=(
        "Publisher of the task only (403); 404 unknown task; 409 unless done; 400 unless "
        "`agent_id` is the task's assignee; 409 if already rated. Returns the rating and the "
        "assignee's new trust score (see docs/trust.md for the formula)."
    ),
    responses=responses(Envelope[RatingResult], status=201, errors=(*AUTH_ERRORS, 403, 404, 409)),
)
@writes
def rate(body: RatingCreate) -> Response:
    data = service.rate(
        db(),
        caller_id=caller_id(),
        agent_id=body.agent_id,
        task_id=body.task_id,
        quality_score=body.quality_score,
        on_time=body.on_time,
        comment=body.comment,
        now=clock(),
    )
    return created(data, message_key="rated")


@bp.get(
    "/<agent_id>",
    summary="信任分与评价历史 / Trust score and rating history",
    description=(
        "History newest first, paginated with `page` / `page_size`. `trust_score` is the "
        "exact score at the time of the request (scores decay on read; docs/trust.md)."
    ),
    responses=responses(Envelope[TrustPublic], errors=(*AUTH_ERRORS, 404)),
)
@reads
def get_trust(path: TrustPath, query: TrustQuery) -> Response:
    return ok(
        service.get_trust(
            db(), agent_id=path.agent_id, page=query.page, page_size=query.page_size, now=clock()
        )
    )
