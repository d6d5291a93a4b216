"""Envelope models for the OpenAPI document and shared response declarations."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    code: int = Field(description="0 = 成功 success; otherwise the HTTP status")
    message: str = Field(description="状态描述 (zh by default, en with Accept-Language: en)")
    data: T
    timestamp: str = Field(description="ISO 8601 UTC, e.g. 2026-03-27T10:30:00Z")


class FieldProblem(BaseModel):
    field: str
    message: str


class ValidationProblems(BaseModel):
    errors: list[FieldProblem]


class ErrorEnvelope(BaseModel):
    code: int
    message: str
    data: Any = None
    timestamp: str


class ValidationErrorEnvelope(BaseModel):
    code: int = Field(description="400")
    message: str
    data: ValidationProblems
    timestamp: str


class Deleted(BaseModel):
    id: str
    deleted: bool


class Page(BaseModel, Generic[T]):
    items: list[T]
    page: int
    page_size: int
    total: int
    has_more: bool


def responses(
    ok: type[BaseModel] | None, *, status: int = 200, errors: tuple[int, ...] = ()
) -> dict[Any, Any]:
    """Declared responses of an operation: the success model and its error statuses."""
    out: dict[Any, Any] = {}
    if ok is not None:
        out[status] = ok
    for code in errors:
        out[code] = ValidationErrorEnvelope if code == 400 else ErrorEnvelope
    return out


AUTH_ERRORS = (400, 401, 429)
