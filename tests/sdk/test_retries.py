"""Retries, backoff and idempotency keys, with a scripted fake transport (no sleeping:
the policy's sleep is recorded)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from aipod_api.sdk import (
    APIConnectionError,
    Client,
    IdempotencyError,
    InvalidRequestError,
    RateLimitError,
    Request,
    Response,
    RetryPolicy,
    ServerError,
)

Step = Response | APIConnectionError


def envelope(status: int, data: Any = None, *, error: str | None = None) -> bytes:
    body: dict[str, Any] = {"code": 0 if status < 400 else status, "message": "m", "data": data}
    if error:
        body["error"] = error
    return json.dumps(body).encode()


def ok(data: Any = None, status: int = 200) -> Response:
    return Response(status, {"content-type": "application/json"}, envelope(status, data))


def fail(status: int, error: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, headers or {}, envelope(status, error=error))


class Scripted:
    """Answers with the next scripted step; records every request."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.sent: list[Request] = []

    def send(self, request: Request) -> Response:
        self.sent.append(request)
        step = self.steps.pop(0)
        if isinstance(step, APIConnectionError):
            raise step
        return step

    def close(self) -> None:
        pass


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make(*steps: Step, jitter: float = 0.0, **options: Any) -> tuple[Client, Scripted, Sleeps]:
    transport = Scripted(*steps)
    sleeps = Sleeps()
    policy = RetryPolicy(sleep=sleeps, jitter=lambda: jitter)
    client = Client(
        "fg_live_" + "k" * 32, base_url="http://fake", transport=transport, retry=policy, **options
    )
    return client, transport, sleeps


def keys(transport: Scripted) -> list[str | None]:
    return [r.headers.get("Idempotency-Key") for r in transport.sent]


def test_5xx_then_success_reuses_one_idempotency_key() -> None:
    client, transport, sleeps = make(
        fail(503, "service_unavailable"), fail(500, "internal_error"), ok({"task_id": "task_1"})
    )
    task = client.tasks.create(title="t", budget=5)
    assert task["task_id"] == "task_1"
    assert len(transport.sent) == 3
    sent_keys = keys(transport)
    assert sent_keys[0] is not None and uuid.UUID(sent_keys[0]).version == 4
    assert sent_keys == [sent_keys[0]] * 3
    assert {r.body for r in transport.sent} == {transport.sent[0].body}
    assert sleeps.calls == [0.25, 0.5]  # 0.5 * 2**(n-1), jitter factor 0.5


def test_every_write_gets_its_own_key_and_explicit_keys_are_sent() -> None:
    client, transport, _ = make(ok({}), ok({}), ok({}), ok({}), ok({}))
    client.tasks.accept("task_1")
    client.tasks.accept("task_1")
    client.memory.delete("mem_1")
    client.tasks.cancel("task_1", idempotency_key="my-key-1")
    client.agents.list()
    sent = keys(transport)
    assert sent[0] and sent[1] and sent[2] and len({sent[0], sent[1], sent[2]}) == 3
    assert sent[3] == "my-key-1"
    assert sent[4] is None  # reads carry none
    assert [r.method for r in transport.sent] == ["PUT", "PUT", "DELETE", "PUT", "GET"]


def test_429_honours_retry_after() -> None:
    client, transport, sleeps = make(
        fail(429, "rate_limited", {"retry-after": "3"}),
        fail(429, "too_many_in_flight"),
        ok({"balance": 1}),
    )
    assert client.wallet.retrieve()["balance"] == 1
    assert sleeps.calls == [3.0, 0.5]  # Retry-After wins over the shorter backoff
    assert len(transport.sent) == 3


def test_429_asking_for_too_long_is_not_waited_for() -> None:
    client, transport, sleeps = make(fail(429, "rate_limited", {"retry-after": "3600"}))
    with pytest.raises(RateLimitError) as err:
        client.wallet.retrieve()
    assert err.value.retry_after == 3600 and sleeps.calls == [] and len(transport.sent) == 1


def test_retries_are_bounded_by_max_retries() -> None:
    client, transport, sleeps = make(*(fail(503, "service_unavailable") for _ in range(3)))
    with pytest.raises(ServerError) as err:
        client.tasks.create(title="t", budget=1)
    assert err.value.status == 503 and len(transport.sent) == 3 and len(sleeps.calls) == 2
    once, transport1, _ = make(fail(502, "internal_error"), max_retries=0)
    with pytest.raises(ServerError):
        once.agents.me()
    assert len(transport1.sent) == 1
    many, transport5, sleeps5 = make(
        *(fail(500, "internal_error") for _ in range(5)), ok(1), max_retries=5
    )
    assert many.request("GET", "/v1/status") == 1
    assert len(transport5.sent) == 6 and sleeps5.calls == [0.25, 0.5, 1.0, 2.0, 4.0]


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=8.0, jitter=lambda: 0.5)
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 5, 6, 10)] == [
        0.375,
        0.75,
        1.5,
        3.0,
        6.0,
        6.0,
        6.0,
    ]
    high = RetryPolicy(jitter=lambda: 0.999_999)
    assert 0.4999 < high.backoff(1) < 0.5 and 7.999 < high.backoff(30) < 8.0
    low = RetryPolicy(jitter=lambda: 0.0)
    assert low.backoff(1) == 0.25 and low.backoff(20) == 4.0


def test_connection_errors_are_retried_for_safe_requests() -> None:
    client, transport, sleeps = make(
        APIConnectionError("reset", request_sent=True),
        APIConnectionError("refused", request_sent=False),
        ok({"task_id": "task_2"}, 201),
    )
    assert client.tasks.create(title="t", budget=1)["task_id"] == "task_2"
    sent_keys = keys(transport)
    assert len(sent_keys) == 3 and sent_keys[0] and len(set(sent_keys)) == 1
    assert len(sleeps.calls) == 2
    client2, transport2, _ = make(*(APIConnectionError("down") for _ in range(3)))
    with pytest.raises(APIConnectionError):
        client2.agents.list()
    assert len(transport2.sent) == 3


def test_writes_without_a_key_are_not_repeated_once_sent() -> None:
    client, transport, sleeps = make(fail(503, "service_unavailable"), idempotency_keys=False)
    with pytest.raises(ServerError):
        client.tasks.create(title="t", budget=1)
    assert len(transport.sent) == 1 and keys(transport) == [None] and sleeps.calls == []

    client2, transport2, _ = make(
        APIConnectionError("reset", request_sent=True), idempotency_keys=False
    )
    with pytest.raises(APIConnectionError):
        client2.tasks.accept("task_1")
    assert len(transport2.sent) == 1
    # never sent at all: the server cannot have acted, so even an unkeyed write is retried
    client3, transport3, _ = make(
        APIConnectionError("refused", request_sent=False), ok({}), idempotency_keys=False
    )
    client3.tasks.accept("task_1")
    assert len(transport3.sent) == 2
    # an explicit key makes it repeatable again
    client4, transport4, _ = make(fail(500, "internal_error"), ok({}), idempotency_keys=False)
    client4.tasks.accept("task_1", idempotency_key="k-1")
    assert keys(transport4) == ["k-1", "k-1"]


def test_idempotency_key_in_use_is_retried_but_reused_is_not() -> None:
    client, transport, sleeps = make(fail(409, "idempotency_key_in_use"), ok({"status": "done"}))
    assert client.tasks.complete("task_1", deliverables={"a": 1})["status"] == "done"
    assert len(transport.sent) == 2 and len(set(keys(transport))) == 1 and len(sleeps.calls) == 1
    client2, transport2, _ = make(fail(422, "idempotency_key_reused"))
    with pytest.raises(IdempotencyError) as err:
        client2.tasks.create(title="t", budget=1, idempotency_key="used-before")
    assert err.value.status == 422 and err.value.error == "idempotency_key_reused"
    assert len(transport2.sent) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, "validation_failed"),
        (401, "invalid_api_key"),
        (403, "forbidden"),
        (404, "task_not_found"),
        (409, "task_not_acceptable"),
        (409, "insufficient_funds"),
        (501, "http_error"),
    ],
)
def test_client_errors_are_never_retried(status: int, error: str) -> None:
    client, transport, sleeps = make(fail(status, error), ok({}))
    with pytest.raises(Exception) as err:
        client.tasks.accept("task_1")
    assert getattr(err.value, "error", None) == error
    assert len(transport.sent) == 1 and sleeps.calls == []


def test_non_json_and_broken_answers_become_typed_errors() -> None:
    client, _, _ = make(
        Response(502, {"content-type": "text/html"}, b"<html>bad gateway</html>"),
        Response(502, {}, b"\xff\xfe"),
        Response(502, {}, b""),
        max_retries=2,
    )
    with pytest.raises(ServerError) as err:
        client.agents.list()
    assert err.value.status == 502 and err.value.error is None and "502" in str(err.value)
    client2, _, _ = make(Response(200, {}, b'{"code": 400, "message": "odd"}'))
    with pytest.raises(InvalidRequestError):
        client2.wallet.retrieve()
    client3, _, _ = make(Response(200, {}, b"not json"))
    with pytest.raises(Exception) as err3:
        client3.wallet.retrieve()
    assert getattr(err3.value, "status", None) == 200


def test_request_passes_params_and_json_exactly() -> None:
    client, transport, _ = make(ok({"x": 1}))
    assert client.request(
        "post", "/v1/memory", params={"a": [1, 2], "b": None, "c": True}, json={"n": "新"}
    ) == {"x": 1}
    req = transport.sent[0]
    assert req.method == "POST" and req.url == "http://fake/v1/memory?a=1&a=2&c=true"
    assert req.body == '{"n": "新"}'.encode() and req.headers["Content-Type"] == "application/json"
    assert req.timeout == 30.0


def test_default_policy_retries_twice_with_jittered_backoff() -> None:
    transport = Scripted(
        fail(503, "service_unavailable"),
        fail(503, "service_unavailable"),
        fail(503, "service_unavailable"),
        ok(1),
    )
    slept: list[float] = []
    client = Client(
        "", base_url="http://fake", transport=transport, retry=RetryPolicy(sleep=slept.append)
    )
    with pytest.raises(ServerError):
        client.status()
    assert len(transport.sent) == 3 and len(slept) == 2
    assert 0.25 <= slept[0] < 0.5 and 0.5 <= slept[1] < 1.0
