"""Every SDK method against the Flask app in process (WSGITransport): results, typed
errors chosen by the machine code, pagination helpers, language, amounts."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from helpers import DEMO_KEY

from aipod_api.sdk import (
    NOT_GIVEN,
    AipodError,
    AuthenticationError,
    Client,
    ConflictError,
    InsufficientFunds,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    Request,
    Response,
    TaskStateError,
    WSGITransport,
)

BASE = "http://sdk.test"


class Recording(WSGITransport):
    """The WSGI transport, remembering every request it sent."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.sent: list[Request] = []

    def send(self, request: Request) -> Response:
        self.sent.append(request)
        return super().send(request)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIPOD_API_KEY", raising=False)
    monkeypatch.delenv("AIPOD_BASE_URL", raising=False)


@pytest.fixture
def transport(make_app: Callable[..., Any]) -> Recording:
    return Recording(make_app(demo=True))


@pytest.fixture
def demo(transport: Recording) -> Client:
    return Client(DEMO_KEY, base_url=BASE, transport=transport)


@pytest.fixture
def register(transport: Recording) -> Callable[..., Client]:
    def make(username: str, **fields: Any) -> Client:
        return Client.register(
            username=username,
            email=f"{username}@example.com",
            base_url=BASE,
            transport=transport,
            **fields,
        )

    return make


def test_status_and_low_level_request(demo: Client) -> None:
    status = demo.status()
    assert status["status"] == "ok" and status["database"] == "ok"
    page = demo.request("GET", "/v1/agents", params={"capability": ["coding"], "page_size": 2})
    assert page["page_size"] == 2 and all("coding" in a["capabilities"] for a in page["items"])
    with pytest.raises(InvalidRequestError) as nowhere:
        demo.request("GET", "/v1/nowhere")
    assert nowhere.value.error == "route_not_found" and nowhere.value.status == 404
    with pytest.raises(InvalidRequestError) as method:
        demo.request("DELETE", "/v1/wallet")
    assert method.value.error == "method_not_allowed" and method.value.status == 405
    with pytest.raises(ValueError):
        demo.request("GET", "v1/agents")
    assert demo.last_request_id and demo.last_response is not None


def test_register_and_login_return_node_id_and_honour_language(
    transport: Recording, register: Callable[..., Client]
) -> None:
    alice = register("Alice_SDK", password="alice-password", capabilities=["Coding", "coding"])
    assert alice.node_id == "alice_sdk" and alice.key_id
    assert alice.registration is not None
    assert alice.registration["agent"]["capabilities"] == ["coding"]
    assert alice.registration["agent"]["email"] == "Alice_SDK@example.com"
    assert alice.agents.me()["agent_id"] == "alice_sdk"
    # the anonymous registration sent no key, and the new client sends its own
    reg = transport.sent[0]
    assert reg.url == f"{BASE}/v1/auth/register" and "Authorization" not in reg.headers
    assert transport.sent[-1].headers["Authorization"] == f"Bearer {alice.api_key}"

    again = Client.login(
        username="alice_sdk", password="alice-password", base_url=BASE, transport=transport
    )
    assert again.node_id == "alice_sdk" and again.api_key != alice.api_key
    assert again.key_id != alice.key_id

    with pytest.raises(ConflictError) as zh:
        register("alice_sdk")
    assert zh.value.error == "username_taken" and zh.value.message == "用户名已存在"
    with pytest.raises(ConflictError) as en:
        register("ALICE_sdk", language="en")
    assert en.value.message == "Username already exists"
    with pytest.raises(AuthenticationError) as bad:
        Client.login(
            username="alice_sdk",
            password="wrong-password",
            base_url=BASE,
            transport=transport,
            language="en",
        )
    assert bad.value.error == "invalid_credentials" and bad.value.status == 401
    assert transport.sent[-1].headers["Accept-Language"] == "en"
    direct = Client("", base_url=BASE, transport=transport).auth.login(
        username="alice_sdk", password="alice-password"
    )
    assert direct["node_id"] == "alice_sdk" and direct["api_key"].startswith("fg_live_")


def test_agents(demo: Client, register: Callable[..., Client]) -> None:
    page = demo.agents.list(capability="text_generation", min_trust=0.9)
    assert [a["agent_id"] for a in page["items"]] == ["ai_analyst_001"]
    assert page["total"] == 1 and page["has_more"] is False and page["total_capped"] is False
    both = demo.agents.list(capability=["stock_analysis", "text_generation"])
    assert all(
        {"stock_analysis", "text_generation"} <= set(a["capabilities"]) for a in both["items"]
    )
    agent = demo.agents.retrieve("ai_analyst_001")
    assert agent["agent_id"] == "ai_analyst_001" and "email" not in agent
    me = demo.agents.me()
    assert me["agent_id"] == "demo" and me["email"]

    bob = register("bob_sdk")
    changed = bob.agents.update(
        "bob_sdk", nickname="新昵称", capabilities=["coding"], endpoint="https://bob.example"
    )
    assert changed["nickname"] == "新昵称" and changed["endpoint"] == "https://bob.example"
    kept = bob.agents.update("bob_sdk", description="写代码")
    assert kept["endpoint"] == "https://bob.example" and kept["description"] == "写代码"
    cleared = bob.agents.update("bob_sdk", endpoint=None, description="")
    assert cleared["endpoint"] is None and cleared["description"] == ""
    assert cleared["nickname"] == "新昵称" and cleared["capabilities"] == ["coding"]
    assert repr(NOT_GIVEN) == "NOT_GIVEN"
    with pytest.raises(PermissionDeniedError) as denied:
        bob.agents.update("demo", nickname="hijack")
    assert denied.value.error == "not_owner"
    with pytest.raises(InvalidRequestError) as empty:
        bob.agents.update("bob_sdk")
    assert empty.value.error == "validation_failed" and empty.value.errors
    with pytest.raises(NotFoundError) as missing:
        demo.agents.retrieve("nobody_at_all")
    assert missing.value.error == "agent_not_found"


def test_task_lifecycle_with_typed_errors(
    demo: Client, register: Callable[..., Client], transport: Recording
) -> None:
    publisher = register("pub_sdk")
    worker = register("work_sdk", capabilities=["stock_analysis"])
    outsider = register("out_sdk")
    deadline = datetime.now(UTC) + timedelta(days=2)
    task = publisher.tasks.create(
        title="复盘",
        budget=Decimal("12.50"),
        description="描述",
        required_capabilities=["stock_analysis"],
        deadline=deadline,
    )
    sent = transport.sent[-1]
    assert sent.body is not None and json.loads(sent.body)["budget"] == 12.5
    assert sent.headers["Idempotency-Key"]
    assert task["budget"] == 12.5 and task["status"] == "open"
    assert task["deadline"] == deadline.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert publisher.tasks.retrieve(task["task_id"])["title"] == "复盘"
    assert publisher.wallet.retrieve()["escrow"] == 12.5

    with pytest.raises(PermissionDeniedError) as own:
        publisher.tasks.accept(task["task_id"])
    assert own.value.error == "own_task"
    with pytest.raises(PermissionDeniedError) as caps:
        outsider.tasks.accept(task["task_id"])
    assert caps.value.error == "missing_capabilities"
    eligible = worker.tasks.list(eligible=True)
    assert task["task_id"] in [t["task_id"] for t in eligible["items"]]
    accepted = worker.tasks.accept(task["task_id"])
    assert accepted["status"] == "progress" and accepted["assignee_id"] == "work_sdk"
    rival = register("rival_sdk", capabilities=["stock_analysis"])
    with pytest.raises(TaskStateError) as taken:
        rival.tasks.accept(task["task_id"])
    assert taken.value.error == "task_not_acceptable" and taken.value.status == 409
    with pytest.raises(PermissionDeniedError) as not_assignee:
        outsider.tasks.complete(task["task_id"], deliverables={"x": 1})
    assert not_assignee.value.error == "not_assignee"
    with pytest.raises(PermissionDeniedError) as not_publisher:
        outsider.tasks.cancel(task["task_id"])
    assert not_publisher.value.error == "not_publisher"
    with pytest.raises(TaskStateError) as early:
        publisher.tasks.cancel(task["task_id"])
    assert early.value.error == "task_in_progress_before_deadline"
    with pytest.raises(TaskStateError) as not_done:
        publisher.trust.rate(
            agent_id="work_sdk", task_id=task["task_id"], quality_score=4, on_time=True
        )
    assert not_done.value.error == "task_not_done"

    done = worker.tasks.complete(
        task["task_id"], deliverables={"report": "内容"}, quality_notes="好"
    )
    assert done["status"] == "done" and done["deliverables"] == {"report": "内容"}
    assert done["quality_notes"] == "好"
    with pytest.raises(TaskStateError) as twice:
        worker.tasks.complete(task["task_id"], deliverables={"report": "again"})
    assert twice.value.error == "task_not_in_progress"
    with pytest.raises(TaskStateError) as cancel_done:
        publisher.tasks.cancel(task["task_id"])
    assert cancel_done.value.error == "task_not_cancellable"

    with pytest.raises(PermissionDeniedError) as not_rater:
        outsider.trust.rate(
            agent_id="work_sdk", task_id=task["task_id"], quality_score=4, on_time=True
        )
    assert not_rater.value.error == "not_task_publisher"
    rated = publisher.trust.rate(
        agent_id="work_sdk",
        task_id=task["task_id"],
        quality_score=Decimal("4.5"),
        on_time=False,
        comment="不错",
    )
    assert rated["rating"]["quality_score"] == 4.5 and rated["rating"]["on_time"] is False
    assert rated["rating"]["comment"] == "不错" and 0 <= rated["trust_score"] <= 1
    with pytest.raises(ConflictError) as again:
        publisher.trust.rate(
            agent_id="work_sdk", task_id=task["task_id"], quality_score=4, on_time=True
        )
    assert again.value.error == "already_rated" and not isinstance(again.value, TaskStateError)
    trust = demo.trust.retrieve("work_sdk")
    assert trust["ratings_count"] == 1 and trust["history"]["items"][0]["rater_id"] == "pub_sdk"

    assert worker.wallet.retrieve()["balance"] == 1012.5
    payments = worker.wallet.transactions(type="task_payment")
    assert [t["amount"] for t in payments["items"]] == [12.5]
    assert payments["items"][0]["task_id"] == task["task_id"]
    by_task = publisher.wallet.transactions(task_id=task["task_id"])
    assert {t["type"] for t in by_task["items"]} >= {"escrow_hold"}

    second = publisher.tasks.create(title="取消我", budget=1)
    cancelled = publisher.tasks.cancel(second["task_id"])
    assert cancelled["status"] == "cancelled"
    with pytest.raises(TaskStateError) as closed:
        worker.tasks.accept(second["task_id"])
    assert closed.value.error == "task_not_acceptable"
    with pytest.raises(InsufficientFunds) as poor:
        publisher.tasks.create(title="太贵了", budget=1_000_000)
    assert poor.value.error == "insufficient_funds" and isinstance(poor.value, ConflictError)
    assert poor.value.balance == pytest.approx(987.5) and poor.value.required == 1_000_000
    with pytest.raises(NotFoundError) as no_task:
        demo.tasks.retrieve("task_999")
    assert no_task.value.error == "task_not_found"
    with pytest.raises(InvalidRequestError) as bad_budget:
        publisher.tasks.create(title="x", budget="12.345")
    assert bad_budget.value.errors[0]["field"] == "budget"
    with pytest.raises(ValueError):
        publisher.tasks.create(title="x", budget="lots")

    progress = demo.tasks.list(status="done", publisher="pub_sdk")
    assert [t["task_id"] for t in progress["items"]] == [task["task_id"]]
    assert demo.tasks.list(assignee="work_sdk")["total"] == 1
    assert demo.tasks.list(capability="stock_analysis", publisher="pub_sdk")["total"] == 1


def test_memory(demo: Client, register: Callable[..., Client]) -> None:
    carol = register("carol_sdk")
    dave = register("dave_sdk")
    public = carol.memory.create(
        content="2026年Q1新能源渗透率超过40%", tags=["新能源", "新能源 "], participants=["demo"]
    )
    assert public["tags"] == ["新能源"] and public["participants"] == ["demo"]
    assert public["visibility"] == "public" and public["author_id"] == "carol_sdk"
    secret = carol.memory.create(
        content="只给 dave 看的渗透率笔记", participants=["dave_sdk"], visibility="participants"
    )
    found = demo.memory.search("渗透率")
    ids = [m["memory_id"] for m in found["items"]]
    assert public["memory_id"] in ids and secret["memory_id"] not in ids
    assert secret["memory_id"] in [m["memory_id"] for m in dave.memory.search("渗透率")["items"]]
    assert demo.memory.list(tag="新能源", author="carol_sdk")["total"] == 1
    assert dave.memory.list(participant="dave_sdk")["items"][0]["memory_id"] == secret["memory_id"]
    newest = demo.memory.search("渗透率", sort="newest", author="carol_sdk")
    assert [m["memory_id"] for m in newest["items"]] == [public["memory_id"]]
    assert dave.memory.retrieve(secret["memory_id"])["content"].startswith("只给")
    with pytest.raises(NotFoundError) as hidden:
        demo.memory.retrieve(secret["memory_id"])
    assert hidden.value.error == "memory_not_found"
    with pytest.raises(PermissionDeniedError) as not_author:
        demo.memory.delete(public["memory_id"])
    assert not_author.value.error == "memory_not_author"
    with pytest.raises(InvalidRequestError) as unknown:
        carol.memory.create(content="x", participants=["ghost_agent"])
    assert unknown.value.error == "memory_unknown_participants"
    deleted = carol.memory.delete(public["memory_id"])
    assert deleted == {"id": public["memory_id"], "deleted": True}
    with pytest.raises(InvalidRequestError) as huge:
        carol.request("POST", "/v1/memory", json={"content": "x" * 1_100_000})
    assert huge.value.error == "payload_too_large" and huge.value.status == 413


def test_keys(register: Callable[..., Client], transport: Recording) -> None:
    erin = register("erin_sdk")
    with pytest.raises(ConflictError) as last:
        erin.keys.revoke(erin.key_id or "")
    assert last.value.error == "last_key"
    spare = erin.keys.create(label="备用")
    assert spare["label"] == "备用" and spare["api_key"].startswith("fg_live_")
    listed = erin.keys.list()
    assert {k["key_id"] for k in listed["items"]} == {erin.key_id, spare["key_id"]}
    assert [k["key_id"] for k in erin.keys.iter_all(page_size=1)] == [
        k["key_id"] for k in listed["items"]
    ]
    assert erin.keys.revoke(spare["key_id"]) == {"id": spare["key_id"], "deleted": True}
    with pytest.raises(AuthenticationError) as revoked:
        Client(spare["api_key"], base_url=BASE, transport=transport).agents.me()
    assert revoked.value.error == "invalid_api_key" and revoked.value.request_id
    with pytest.raises(NotFoundError) as gone:
        erin.keys.revoke("key_999")
    assert gone.value.error == "key_not_found"


def test_iter_helpers_page_through_everything(
    demo: Client, register: Callable[..., Client], transport: Recording
) -> None:
    frank = register("frank_sdk", capabilities=["coding"])
    made = [frank.tasks.create(title=f"任务 {i}", budget=1)["task_id"] for i in range(7)]
    before = len(transport.sent)
    got = [t["task_id"] for t in frank.tasks.iter_all(publisher="frank_sdk", page_size=3)]
    assert got == list(reversed(made))  # newest first, each once
    pages = [r for r in transport.sent[before:] if "/v1/tasks" in r.url]
    assert len(pages) == 3 and "page=3" in pages[-1].url and "page_size=3" in pages[-1].url
    assert [t["task_id"] for t in frank.tasks.iter_all(publisher="frank_sdk", limit=4)] == list(
        reversed(made)
    )[:4]
    assert list(frank.tasks.iter_all(publisher="frank_sdk", limit=0)) == []

    agents = list(demo.agents.iter_all(page_size=2))
    assert len(agents) == demo.agents.list()["total"] == len({a["agent_id"] for a in agents})
    assert [a["agent_id"] for a in demo.agents.iter_all(capability="coding", page_size=1)] == [
        a["agent_id"] for a in demo.agents.list(capability="coding")["items"]
    ]
    txs = list(frank.wallet.iter_transactions(page_size=2))
    assert len(txs) == 8 and txs[-1]["type"] == "signup_credit"
    assert [t["tx_id"] for t in frank.wallet.iter_transactions(type="escrow_hold")] == [
        t["tx_id"] for t in txs if t["type"] == "escrow_hold"
    ]
    for i in range(3):
        frank.memory.create(content=f"第{i}条笔记", tags=["翻页"])
    notes = [m["content"] for m in demo.memory.iter_all(tag="翻页", page_size=2)]
    assert notes == ["第2条笔记", "第1条笔记", "第0条笔记"]
    assert len(list(demo.memory.iter_all(q="笔记", page_size=1))) == 3
    history = list(demo.trust.iter_history("ai_analyst_001", page_size=5))
    count = demo.trust.retrieve("ai_analyst_001")["ratings_count"]
    assert len(history) == count > 5  # several pages of 5
    assert len({r["rating_id"] for r in history}) == count


def test_language_option_sets_accept_language(transport: Recording) -> None:
    english = Client(DEMO_KEY, base_url=BASE, transport=transport, language="en")
    with pytest.raises(NotFoundError) as err:
        english.tasks.retrieve("task_999")
    assert err.value.message == "Task not found: task_999"
    assert transport.sent[-1].headers["Accept-Language"] == "en"
    with pytest.raises(NotFoundError) as zh:
        Client(DEMO_KEY, base_url=BASE, transport=transport).tasks.retrieve("task_999")
    assert zh.value.message == "任务不存在: task_999"


def test_client_reads_the_environment(
    transport: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIPOD_API_KEY", DEMO_KEY)
    monkeypatch.setenv("AIPOD_BASE_URL", "http://env.example:8080/")
    client = Client(transport=transport)
    assert client.api_key == DEMO_KEY and client.base_url == "http://env.example:8080"
    assert client.agents.me()["agent_id"] == "demo"
    assert transport.sent[-1].url == "http://env.example:8080/v1/agents/me"
    assert transport.sent[-1].headers["Authorization"] == f"Bearer {DEMO_KEY}"
    explicit = Client("", base_url="http://other.example", transport=transport)
    assert explicit.api_key is None and explicit.base_url == "http://other.example"
    with pytest.raises(AuthenticationError):
        explicit.wallet.retrieve()
    assert "Authorization" not in transport.sent[-1].headers


def test_rate_limit_and_login_throttle_errors(make_app: Callable[..., Any]) -> None:
    transport = WSGITransport(make_app(rate_limit="2/minute"))
    client = Client.register(
        username="rl_sdk",
        email="rl@example.com",
        base_url=BASE,
        transport=transport,
        password="rl-password",
        max_retries=0,
    )
    client.wallet.retrieve()
    client.wallet.retrieve()
    with pytest.raises(RateLimitError) as limited:
        client.wallet.retrieve()
    assert limited.value.error == "rate_limited" and limited.value.status == 429
    assert limited.value.retry_after is not None and limited.value.retry_after > 0
    throttled = WSGITransport(make_app(login_limit="2/minute"))
    anon = Client("", base_url=BASE, transport=throttled, max_retries=0)
    codes = []
    for _ in range(3):
        with pytest.raises(AipodError) as failed:
            anon.auth.login(username="rl_sdk", password="not-the-password")
        codes.append(failed.value.error)
    assert codes[:2] == ["invalid_credentials", "invalid_credentials"]
    assert codes[2] == "login_throttled"


def test_wsgi_transport_encodes_paths_and_queries(demo: Client) -> None:
    demo.memory.create(content="路径编码", tags=["新 能源/测试?&"])
    found = demo.memory.list(tag="新 能源/测试?&")
    assert found["total"] == 1 and found["items"][0]["tags"] == ["新 能源/测试?&"]
    with pytest.raises(NotFoundError) as odd:
        demo.agents.retrieve("名字 ?&x=1")
    assert odd.value.error == "agent_not_found"
