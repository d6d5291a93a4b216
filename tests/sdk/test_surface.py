"""The SDK's surface mirrors the API: every request field is an explicit keyword
parameter, every response model has a TypedDict with the same fields, every public method
has a docstring, and help(Client) shows the resources."""

from __future__ import annotations

import inspect
import pydoc
import typing
from typing import Any

import pytest
from pydantic import BaseModel

from aipod_api.agents.schemas import (
    AgentListQuery,
    AgentOwner,
    AgentPublic,
    AgentUpdate,
    PublisherRecord,
)
from aipod_api.auth.schemas import (
    KeyCreate,
    KeyCreatedPublic,
    KeyListQuery,
    KeyPublic,
    LoginCreate,
    LoginPublic,
    RegisterCreate,
    RegisterData,
)
from aipod_api.core.openapi import Deleted, Page
from aipod_api.events.schemas import EventFeed, EventPublic, EventsQuery
from aipod_api.memory.schemas import MemoryCreate, MemoryListQuery, MemoryPublic
from aipod_api.sdk import Client, types
from aipod_api.sdk.client import (
    Agents,
    Auth,
    EventsResource,
    Keys,
    MemoryResource,
    Tasks,
    TrustResource,
    WalletResource,
    Webhooks,
)
from aipod_api.status.views import StatusPublic
from aipod_api.tasks.schemas import (
    TaskComplete,
    TaskCreate,
    TaskDetail,
    TaskHistoryEntry,
    TaskListQuery,
    TaskPublic,
    TaskReason,
    TaskResolve,
)
from aipod_api.trust.schemas import RatingCreate, RatingPublic, RatingResult, TrustPublic
from aipod_api.wallet.schemas import TransactionPublic, TransactionsQuery, WalletPublic
from aipod_api.webhooks.schemas import (
    DeliveriesQuery,
    DeliveryPublic,
    PingQueued,
    SecretRotated,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhookUpdate,
)

RESOURCES = (
    Auth,
    Agents,
    Tasks,
    MemoryResource,
    TrustResource,
    WalletResource,
    EventsResource,
    Keys,
    Webhooks,
)

# SDK result type <-> the server's response shape (a pydantic model, or a TypedDict)
RESULTS: list[tuple[Any, Any]] = [
    (types.Status, StatusPublic),
    (types.Agent, AgentPublic),
    (types.AgentOwner, AgentOwner),
    (types.PublisherRecord, PublisherRecord),
    (types.Login, LoginPublic),
    (types.Registration, RegisterData),
    (types.ApiKey, KeyPublic),
    (types.ApiKeyCreated, KeyCreatedPublic),
    (types.Deleted, Deleted),
    (types.Task, TaskPublic),
    (types.TaskDetail, TaskDetail),
    (types.TaskHistoryEntry, TaskHistoryEntry),
    (types.Memory, MemoryPublic),
    (types.Rating, RatingPublic),
    (types.RatingResult, RatingResult),
    (types.Trust, TrustPublic),
    (types.Wallet, WalletPublic),
    (types.Transaction, TransactionPublic),
    (types.Webhook, WebhookPublic),
    (types.WebhookCreated, WebhookCreated),
    (types.WebhookSecret, SecretRotated),
    (types.WebhookTest, PingQueued),
    (types.WebhookDelivery, DeliveryPublic),
    (types.Page, Page[Any]),
    (types.Event, EventPublic),
    (types.EventFeed, EventFeed),
]

# SDK method <-> the request model its keyword parameters must cover (path ids aside)
REQUESTS: list[tuple[Any, type[BaseModel], set[str]]] = [
    (Auth.register, RegisterCreate, set()),
    (Auth.login, LoginCreate, set()),
    (Agents.list, AgentListQuery, set()),
    (Agents.update, AgentUpdate, {"agent_id"}),
    (Tasks.list, TaskListQuery, set()),
    (Tasks.create, TaskCreate, set()),
    (Tasks.complete, TaskComplete, {"task_id"}),
    (Tasks.request_changes, TaskReason, {"task_id"}),
    (Tasks.dispute, TaskReason, {"task_id"}),
    (Tasks.resolve, TaskResolve, {"task_id"}),
    (MemoryResource.list, MemoryListQuery, set()),
    (MemoryResource.create, MemoryCreate, set()),
    (TrustResource.rate, RatingCreate, set()),
    (WalletResource.transactions, TransactionsQuery, set()),
    (EventsResource.list, EventsQuery, set()),
    (Keys.list, KeyListQuery, set()),
    (Keys.create, KeyCreate, set()),
    (Webhooks.create, WebhookCreate, set()),
    (Webhooks.update, WebhookUpdate, {"webhook_id"}),
    (Webhooks.deliveries, DeliveriesQuery, {"webhook_id"}),
]


def _response_fields(shape: Any) -> set[str]:
    if isinstance(shape, type) and issubclass(shape, BaseModel):
        return set(shape.model_fields)
    return set(typing.get_type_hints(typing.get_origin(shape) or shape))  # a TypedDict


@pytest.mark.parametrize(("typed", "model"), RESULTS, ids=lambda v: getattr(v, "__name__", ""))
def test_result_types_mirror_the_response_models(typed: Any, model: Any) -> None:
    sdk_fields = set(typing.get_type_hints(typed))
    server_fields = _response_fields(model)
    assert server_fields, model
    assert sdk_fields == server_fields, (
        f"update aipod_api/sdk/types.py {typed.__name__}: "
        f"missing {sorted(server_fields - sdk_fields)}, extra {sorted(sdk_fields - server_fields)}"
    )


@pytest.mark.parametrize(
    ("method", "model", "path"), REQUESTS, ids=lambda v: getattr(v, "__qualname__", "")
)
def test_every_request_field_is_an_explicit_parameter(
    method: Any, model: type[BaseModel], path: set[str]
) -> None:
    params = inspect.signature(method).parameters
    names = {n for n in params if n not in ("self", "idempotency_key")} - path
    assert names == set(model.model_fields), (
        f"{method.__qualname__}: missing {sorted(set(model.model_fields) - names)}, "
        f"extra {sorted(names - set(model.model_fields))}"
    )


def public_methods() -> list[Any]:
    found = [Client.request, Client.status, Client.register, Client.login, Client.close]
    for cls in RESOURCES:
        found += [f for n, f in vars(cls).items() if callable(f) and not n.startswith("_")]
    return found


@pytest.mark.parametrize("method", public_methods(), ids=lambda f: f.__qualname__)
def test_methods_are_documented_and_fully_typed(method: Any) -> None:
    assert inspect.getdoc(method), f"{method.__qualname__} has no docstring"
    sig = inspect.signature(method)
    for name, param in sig.parameters.items():
        if name in ("self", "cls"):
            continue
        assert param.kind is not inspect.Parameter.VAR_KEYWORD, f"{method.__qualname__}(**{name})"
        assert param.annotation is not inspect.Parameter.empty, (method.__qualname__, name)
        if param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            # only ids are positional; every option is keyword-only
            assert name.endswith("_id") or name in ("method", "path", "query"), (
                method.__qualname__,
                name,
            )
    assert sig.return_annotation is not inspect.Signature.empty


def test_help_shows_the_resources() -> None:
    text = pydoc.render_doc(Client, renderer=pydoc.plaintext)
    for name in (
        "agents",
        "tasks",
        "memory",
        "trust",
        "wallet",
        "events",
        "keys",
        "auth",
        "request",
    ):
        assert f"\n |  {name}" in text, name
    resource_help = pydoc.render_doc(Tasks, renderer=pydoc.plaintext)
    assert "create(self, *, title: 'str', budget: 'Amount'" in resource_help
    assert "Idempotency-Key" in resource_help
