"""Auth request/response models."""

from __future__ import annotations

import re
from typing import Annotated, NotRequired

from pydantic import AfterValidator, BaseModel, Field
from typing_extensions import TypedDict

from aipod_api.agents.schemas import AgentOwner
from aipod_api.core.types import Body, PageQuery, StrictStr, capabilities_type

USERNAME_PATTERN = r"^[A-Za-z0-9_-]{3,32}$"
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def _email(value: str) -> str:
    if len(value) > 254 or not _EMAIL_RE.fullmatch(value) or ".." in value:
        raise ValueError("不是合法的邮箱地址|not a valid email address")
    return value


Username = Annotated[StrictStr, Field(pattern=USERNAME_PATTERN, min_length=3, max_length=32)]
Email = Annotated[
    StrictStr,
    Field(max_length=254, json_schema_extra={"format": "email"}),
    AfterValidator(_email),
]
Password = Annotated[StrictStr, Field(min_length=8, max_length=128)]


class RegisterCreate(Body):
    username: Username = Field(description="3–32 位 [A-Za-z0-9_-],不区分大小写唯一")
    email: Email
    capabilities: capabilities_type(32) = Field(default_factory=list)  # type: ignore[valid-type]
    password: Password | None = None
    nickname: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None


class LoginCreate(Body):
    username: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    password: Annotated[StrictStr, Field(min_length=1, max_length=128)]


class KeyCreate(Body):
    label: Annotated[StrictStr, Field(max_length=100)] | None = None


class KeyPath(BaseModel):
    key_id: str = Field(max_length=32, description="key_001")


class KeyListQuery(PageQuery):
    pass


# Response shapes: TypedDicts, one definition for what the service returns (mypy checks
# it) and for the OpenAPI schema.


class LoginPublic(TypedDict):
    api_key: str
    node_id: str
    key_id: str


class RegisterData(LoginPublic):
    agent: AgentOwner


class LoginData(LoginPublic):
    # Always sent; NotRequired keeps the OpenAPI schema as it was (not in `required`).
    revoked_key_ids: NotRequired[
        Annotated[
            list[str],
            Field(
                description="登录签发的旧 Key 中为腾出名额而撤销的 / login-issued keys revoked to "
                "stay within the per-agent key cap (oldest first; usually empty)",
            ),
        ]
    ]


class KeyPublic(TypedDict):
    key_id: str
    prefix: str
    label: str | None
    created_at: str
    last_used_at: str | None


class KeyCreatedPublic(TypedDict):
    key_id: str
    api_key: str
    label: str | None
    created_at: str
