"""Envelope models for the OpenAPI document and shared response declarations."""

from __future__ import annotations

import copy
import re
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field, JsonValue
from typing_extensions import TypedDict

from aipod_api.core.types import Page as Page

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


def _error_field() -> Any:
    from aipod_api.core.errors import ERROR_CODES

    codes: list[JsonValue] = [*sorted(ERROR_CODES)]
    return Field(
        description="稳定的机器错误码 / stable machine error code (never localised); "
        "the table is in the README",
        json_schema_extra={"enum": codes},
    )


class ErrorEnvelope(BaseModel):
    code: int = Field(description="the HTTP status")
    error: str = _error_field()
    message: str
    data: Any = Field(description="null, or details such as `{balance, required}`")
    timestamp: str


class ValidationErrorEnvelope(BaseModel):
    code: int = Field(description="400")
    error: str = _error_field()
    message: str
    data: ValidationProblems | None = Field(
        description="`{errors: [{field, message}]}`; null when the body is not JSON at all"
    )
    timestamp: str


class Deleted(TypedDict):
    id: str
    deleted: bool


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


# --- The final OpenAPI document ------------------------------------------------------------
#
# flask-openapi3 generates the document from the routes and their pydantic models
# (`app.api_doc`); `build_document` post-processes a copy of it once per app and caches it.
# Nothing here describes an operation by hand: it only fixes what the generator gets wrong,
# adds what every operation shares (auth, limits, error envelopes) and merges examples.

PUBLIC_OPERATIONS = frozenset(
    {("get", "/v1/status"), ("post", "/v1/auth/register"), ("post", "/v1/auth/login")}
    | {("get", "/.well-known/agent-card.json"), ("get", "/v1/agents/{agent_id}/agent-card.json")}
)
"""Operations that need no API key (CONTRACT §2)."""

UNLIMITED_OPERATIONS = frozenset({("get", "/v1/status")})
"""Operations no rate limit applies to (CONTRACT §3: status and the documentation)."""

NO_INPUT_OPERATIONS = frozenset({("get", "/v1/status")})
"""Operations that never answer 400: no parameters, no body and no guard checks."""

BODY_METHODS = frozenset({"post", "put", "patch", "delete"})

ERROR_DESCRIPTIONS: dict[str, str] = {
    "400": "参数错误,缺少必填字段 / Bad request: `data.errors` names each field",
    "401": "未提供 API Key、格式错误、不存在或已撤销(`data.reason` 说明是哪种)/ Missing, "
    "malformed, unknown or revoked API key (`data.reason` says which; send "
    "`Authorization: Bearer <api_key>`)",
    "403": "权限不足,无权操作此资源 / Not allowed for the caller",
    "404": "资源不存在 / Not found",
    "409": "资源冲突 / Conflict with the resource's state",
    "422": "Idempotency-Key 已用于另一个请求 / Idempotency-Key reused for another request",
    "413": "请求体过大 / Body over the size limit",
    "429": "请求过于频繁,触发限流 / Rate limited (see `Retry-After`)",
    "500": "服务器内部错误 / Internal error",
    "503": "服务不可用或正忙 / Storage unreachable, or busy (see `Retry-After`)",
}

_DEMO_KEY = "fg_live_demo_xxxxxxxxxxxx"

# Request-body examples from the seed page, keyed by (method, path template).
REQUEST_EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/auth/register"): {
        "summary": "注册新节点 Register a node",
        "value": {
            "username": "my_node",
            "email": "node@example.com",
            "capabilities": ["stock_analysis", "text_generation"],
        },
    },
    ("post", "/v1/auth/login"): {
        "summary": "演示账号登录 Log in as the demo agent",
        "value": {"username": "demo", "password": "demo"},
    },
    ("put", "/v1/agents/{agent_id}"): {
        "summary": "更新昵称和能力 Update nickname and capabilities",
        "value": {"nickname": "新昵称", "capabilities": ["coding"]},
    },
    ("post", "/v1/tasks"): {
        # The seed's deadline (2026-03-28) lies in the past by now; a past one is a 400.
        "summary": "发布任务 Publish a task (deadline moved into the future)",
        "value": {
            "title": "A股每日复盘报告",
            "description": "对今日A股市场进行技术分析,撰写复盘报告",
            "required_capabilities": ["stock_analysis", "text_generation"],
            "budget": 500,
            "deadline": "2030-03-28T08:00:00",
        },
    },
    ("put", "/v1/tasks/{task_id}/complete"): {
        "summary": "完成任务交付 Deliver a task",
        "value": {
            "deliverables": {"report": "复盘报告内容...", "files": ["report.pdf"]},
            "quality_notes": "包含涨跌停板分析、资金流向、板块表现",
        },
    },
    ("post", "/v1/memory"): {
        "summary": "写入共享记忆 Write a shared memory",
        "value": {
            "content": "2026年Q1新能源渗透率超过40%,比亚迪领先",
            "participants": ["ai_analyst_001", "ai_finance_003"],
            "tags": ["新能源", "市场数据"],
        },
    },
    ("post", "/v1/trust/rate"): {
        "summary": "评价已完成任务 Rate a completed task (the seed's self-rating is a 403)",
        "value": {
            "agent_id": "demo",
            "task_id": "task_001",
            "quality_score": 4.8,
            "on_time": True,
            "comment": "交付专业,沟通顺畅",
        },
    },
    ("post", "/v1/auth/keys"): {
        "summary": "新建 API Key Create an API key",
        "value": {"label": "ci"},
    },
}

# Parameter examples from the seed page: path parameters by name, query parameters by
# (path template, name).
PATH_PARAM_EXAMPLES: dict[str, Any] = {
    "agent_id": "demo",
    "task_id": "task_001",
    "memory_id": "mem_001",
    "key_id": "key_002",
}
QUERY_PARAM_EXAMPLES: dict[tuple[str, str], Any] = {
    ("/v1/agents", "capability"): ["text_generation"],
    ("/v1/agents", "min_trust"): 0.9,
    ("/v1/tasks", "status"): "progress",
    ("/v1/memory", "tag"): "新能源",
    ("/v1/memory", "participant"): "ai_analyst_001",
    ("/v1/memory", "q"): "渗透率",
    ("/v1/transactions", "type"): "task_payment",
}

SERVERS = [
    {"url": "/", "description": "本服务器 / this server"},
    {"url": "http://localhost:5001", "description": "本地开发服务器 / local development server"},
]


# Idempotency keys (core/idempotency.py): a header every write accepts, and the header a
# replayed answer carries.
IDEMPOTENCY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "幂等键:同一 Key 的重试返回首次的结果(24 小时内)而不会重复执行 / "
        "Retry safely: a retry with the same key (per caller, for 24 h) gets the first "
        "answer again, with `Idempotent-Replayed: true`, instead of running twice. "
        "1–255 printable ASCII characters (a UUID is a good key), raw or as an RFC 8941 "
        "string. Same key with another method, path or body: 422 "
        "`idempotency_key_reused`; while the first request still runs: 409 "
        "`idempotency_key_in_use`. 400, 429 and 5xx answers are not stored. See the "
        "README, section Idempotency."
    ),
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": "^[\\x20-\\x7E]+$",
    },
    "example": "8e03978e-40d5-43e8-bc93-6894a57f9324",
}
REPLAYED_HEADER: dict[str, Any] = {
    "description": "`true` when this is the stored answer of an earlier request with the "
    "same Idempotency-Key",
    "schema": {"type": "string", "enum": ["true"]},
}
# Answers that are never stored, so never replayed.
UNSTORED_STATUSES = frozenset({"400", "413", "422", "429", "500", "503"})


def _error_response(status: str, schema: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": ERROR_DESCRIPTIONS.get(status, status),
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    if status == "429":
        out["headers"] = {
            "Retry-After": {
                "description": "秒 / seconds until a request is allowed again",
                "schema": {"type": "integer"},
            }
        }
    return out


def rule_to_template(rule: str) -> str:
    """`/v1/agents/<agent_id>` or `/<string:agent_id>` → `/v1/agents/{agent_id}`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


_COMPONENT = "#/components/schemas/"


def _resolve_root_aliases(doc: dict[str, Any]) -> None:
    """A `RootModel[T]` response model (e.g. `a2a.schemas.AgentCardDocument`, the card's
    TypedDict made a model for the generator) is generated as a component that only
    refers to `T`: drop it and point its uses at `T` itself."""
    schemas: dict[str, Any] = doc.get("components", {}).get("schemas", {})
    aliases = {
        _COMPONENT + name: schema["$ref"]
        for name, schema in schemas.items()
        if isinstance(schema.get("$ref"), str) and set(schema) <= {"$ref", "title", "description"}
    }
    if not aliases:
        return
    for ref in aliases:
        del schemas[ref.removeprefix(_COMPONENT)]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref in aliases:
                node["$ref"] = aliases[ref]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)


def finalize_document(
    doc: dict[str, Any], *, endpoints: dict[tuple[str, str], str] | None = None
) -> dict[str, Any]:
    """Fix and complete a document generated by flask-openapi3 (in place; also returned).

    `endpoints` maps (method, path template) to the Flask view function name, used as the
    operationId when it is unique.
    """
    doc["openapi"] = "3.1.0"
    doc["servers"] = SERVERS
    components = doc.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": f"Authorization: Bearer <api_key>(演示 / demo: `{_DEMO_KEY}`)",
    }
    # pydantic titles a parametrised TypedDict by its bare name (`Page`); name the item
    # type, as a generic model's title does (`Page[TaskPublic]`; clients show titles).
    for name, schema in components.get("schemas", {}).items():
        generic = re.fullmatch(r"Page_(\w+)_", name)
        if generic is not None and schema.get("title") == "Page":
            schema["title"] = f"Page[{generic.group(1)}]"
    _resolve_root_aliases(doc)
    names = list((endpoints or {}).values())
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if method not in {"get", "put", "post", "delete", "patch"}:
                continue
            key = (method, path)
            resp: dict[str, Any] = op.setdefault("responses", {})
            if endpoints and key in endpoints and names.count(endpoints[key]) == 1:
                op["operationId"] = endpoints[key]
            # The generator adds a 400 as an *array* of the validation model: ours is one
            # ValidationErrorEnvelope object.
            resp.pop("400", None)
            if key not in NO_INPUT_OPERATIONS:
                resp["400"] = _error_response("400", "ValidationErrorEnvelope")
            if key in PUBLIC_OPERATIONS:
                op["security"] = []
            else:
                op["security"] = [{"bearer": []}]
                resp.setdefault("401", _error_response("401", "ErrorEnvelope"))
            if key not in UNLIMITED_OPERATIONS:
                resp["429"] = _error_response("429", "ErrorEnvelope")
            if method in BODY_METHODS:
                resp.setdefault("413", _error_response("413", "ErrorEnvelope"))
                resp.setdefault("409", _error_response("409", "ErrorEnvelope"))
                resp["422"] = _error_response("422", "ErrorEnvelope")
                for status, r in resp.items():
                    if status not in UNSTORED_STATUSES:
                        r.setdefault("headers", {})["Idempotent-Replayed"] = REPLAYED_HEADER
                op.setdefault("parameters", []).append(copy.deepcopy(IDEMPOTENCY_PARAMETER))
            params = op.get("parameters", [])
            if any(p.get("in") == "path" for p in params):
                resp.setdefault("404", _error_response("404", "ErrorEnvelope"))
            for status, r in resp.items():
                if status in ERROR_DESCRIPTIONS and status != "400":
                    r["description"] = ERROR_DESCRIPTIONS[status]
            op["responses"] = dict(sorted(resp.items()))
            for p in params:
                if p.get("in") == "path" and p["name"] in PATH_PARAM_EXAMPLES:
                    p["example"] = PATH_PARAM_EXAMPLES[p["name"]]
                elif p.get("in") == "query" and (path, p["name"]) in QUERY_PARAM_EXAMPLES:
                    p["example"] = QUERY_PARAM_EXAMPLES[(path, p["name"])]
            example = REQUEST_EXAMPLES.get(key)
            media = op.get("requestBody", {}).get("content", {}).get("application/json")
            if example is not None and media is not None:
                media["examples"] = {"seed": example}
    return doc


def build_document(app: Any) -> dict[str, Any]:
    """The app's final OpenAPI document, built once and cached on the app."""
    cached: dict[str, Any] | None = app.extensions.get("aipod_openapi")
    if cached is not None:
        return cached
    endpoints: dict[tuple[str, str], str] = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        name = getattr(view, "__name__", rule.endpoint.rsplit(".", 1)[-1])
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            endpoints[(method.lower(), rule_to_template(rule.rule))] = name
    doc = finalize_document(copy.deepcopy(app.api_doc), endpoints=endpoints)
    app.extensions["aipod_openapi"] = doc
    return doc
