"""GET /v1/status: liveness plus a real database round trip (status/service.py)."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from aipod_api import __version__
from aipod_api.core.openapi import Envelope, ErrorEnvelope
from aipod_api.http.context import reads, state
from aipod_api.http.envelope import envelope
from aipod_api.http.i18n import t
from aipod_api.status import service
from aipod_api.status.schemas import StatusPublic

tag = Tag(name="status", description="健康检查 Health")
bp = APIBlueprint("status", __name__, url_prefix="/v1", abp_tags=[tag])

__all__ = ["StatusPublic", "bp"]


@bp.get(
    "/status",
    summary="健康检查 Health check (no auth)",
    responses={200: Envelope[StatusPublic], 503: ErrorEnvelope},
)
@reads
def status() -> Response:
    st = state()
    data = service.check(st.engine, version=__version__, started_at=st.started_at)
    if data["database"] == "ok":
        return envelope(data)
    return envelope(
        data, message=t("unavailable"), code=503, status=503, error="service_unavailable"
    )
