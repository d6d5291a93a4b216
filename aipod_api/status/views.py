"""GET /v1/status: liveness plus a real database round trip."""

from __future__ import annotations

import time

from flask import Response
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel
from sqlalchemy import text

from aipod_api import __version__
from aipod_api.core.db import transaction
from aipod_api.core.openapi import Envelope, ErrorEnvelope
from aipod_api.http.context import reads, state
from aipod_api.http.envelope import envelope
from aipod_api.http.i18n import t

tag = Tag(name="status", description="健康检查 Health")
bp = APIBlueprint("status", __name__, url_prefix="/v1", abp_tags=[tag])


class StatusPublic(BaseModel):
    status: str
    version: str
    storage: str
    database: str
    uptime_s: int


@bp.get(
    "/status",
    summary="健康检查 Health check (no auth)",
    responses={200: Envelope[StatusPublic], 503: ErrorEnvelope},
)
@reads
def status() -> Response:
    st = state()
    storage = "sqlite" if st.engine.dialect.name == "sqlite" else "postgresql"
    healthy = True
    try:
        with transaction(st.engine, write=False) as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        healthy = False
    data = {
        "status": "ok" if healthy else "degraded",
        "version": __version__,
        "storage": storage,
        "database": "ok" if healthy else "error",
        "uptime_s": int(time.monotonic() - st.started_at),
    }
    if healthy:
        return envelope(data)
    return envelope(
        data, message=t("unavailable"), code=503, status=503, error="service_unavailable"
    )
