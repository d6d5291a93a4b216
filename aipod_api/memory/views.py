"""Shared memory routes."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from aipod_api.core.openapi import AUTH_ERRORS, Deleted, Envelope, responses
from aipod_api.http.context import caller_id, clock, db, reads, writes
from aipod_api.http.envelope import created, ok
from aipod_api.memory import service
from aipod_api.memory.schemas import (
    MemoryCreate,
    MemoryListQuery,
    MemoryPage,
    MemoryPath,
    MemoryPublic,
)

tag = Tag(name="memory", description="共享记忆 Shared memory")
bp = APIBlueprint(
    "memory", __name__, url_prefix="/v1/memory", abp_tags=[tag], abp_security=[{"bearer": []}]
)


@bp.get(
    "",
    summary="查询共享记忆 List and search shared memory",
    description=(
        "Newest first (creation sequence, descending), or `sort=relevance` with `q`. "
        'Only memories the caller may see: public ones, and "participants" ones where the '
        "caller is the author or a participant. `q` matches a substring of the content "
        "(Chinese and mixed text, 1–100 characters, ASCII case-insensitive). `total` counts "
        f"up to {service.COUNT_CAP}; beyond that `total_capped` is true (`has_more` is exact)."
    ),
    responses=responses(Envelope[MemoryPage], errors=AUTH_ERRORS),
)
@reads
def list_memories(query: MemoryListQuery) -> Response:
    data = service.list_memories(
        db(),
        viewer_id=caller_id(),
        participant=query.participant,
        tag=query.tag,
        author=query.author,
        q=query.q,
        sort=query.sort,
        page=query.page,
        page_size=query.page_size,
    )
    return ok(data)


@bp.post(
    "",
    summary="写入共享记忆 Write a shared memory",
    responses=responses(Envelope[MemoryPublic], status=201, errors=AUTH_ERRORS),
)
@writes
def create_memory(body: MemoryCreate) -> Response:
    data = service.create_memory(
        db(),
        author_id=caller_id(),
        content=body.content,
        participants=body.participants,
        tags=body.tags,
        visibility=body.visibility,
        now=clock(),
    )
    return created(data)


@bp.get(
    "/<memory_id>",
    summary="获取一条记忆 Get a memory",
    description="404 when the memory does not exist or the caller may not see it.",
    responses=responses(Envelope[MemoryPublic], errors=(*AUTH_ERRORS, 404)),
)
@reads
def get_memory(path: MemoryPath) -> Response:
    return ok(service.get_memory(db(), memory_id=path.memory_id, viewer_id=caller_id()))


@bp.delete(
    "/<memory_id>",
    summary="删除记忆(仅限作者)/ Delete a memory (author only)",
    responses=responses(Envelope[Deleted], errors=(*AUTH_ERRORS, 403, 404)),
)
@writes
def delete_memory(path: MemoryPath) -> Response:
    data = service.delete_memory(db(), memory_id=path.memory_id, caller_id=caller_id())
    return ok(data, message_key="deleted")
