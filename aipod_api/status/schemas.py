"""The status response shape (a TypedDict, as elsewhere: what the service returns and what
the OpenAPI document describes)."""

from __future__ import annotations

from typing_extensions import TypedDict


class StatusPublic(TypedDict):
    status: str
    version: str
    storage: str
    database: str
    uptime_s: int
