"""The Python SDK against the real server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
from helpers import DEMO_KEY, LiveServer

from aipod_api.sdk import (
    AuthenticationError,
    Client,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)


def test_sdk_does_not_import_flask() -> None:
    code = "import sys, aipod_api.sdk; print('flask' in sys.modules, 'sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_sdk_happy_path_and_typed_errors(live: LiveServer) -> None:
    client = Client(DEMO_KEY, base_url=live.base_url)
    assert client.status()["status"] == "ok"
    agents = client.agents.list(capability="text_generation")
    assert agents["total"] >= 1
    me = client.agents.update("demo", nickname="新昵称", capabilities=["coding"])
    assert me["nickname"] == "新昵称"
    assert client.wallet.retrieve()["currency"] == "credit"

    new = Client.register(
        username="sdk_user",
        email="sdk@example.com",
        base_url=live.base_url,
        password="sdk-password",
    )
    assert new.agents.me()["agent_id"] == "sdk_user"
    again = Client.login(username="sdk_user", password="sdk-password", base_url=live.base_url)
    assert again.api_key != new.api_key
    key = new.keys.create(label="spare")
    assert new.keys.revoke(key["key_id"])["deleted"] is True

    with pytest.raises(AuthenticationError) as auth_err:
        Client("fg_live_" + "x" * 32, base_url=live.base_url).agents.me()
    assert auth_err.value.status == 401 and auth_err.value.request_id
    with pytest.raises(InvalidRequestError) as bad:
        client.agents.update("demo", nickname=5)
    assert bad.value.errors[0]["field"] == "nickname"
    with pytest.raises(NotFoundError):
        client.agents.retrieve("nobody_at_all")
    with pytest.raises(PermissionDeniedError):
        client.agents.update("sdk_user", nickname="hijack")
    english = Client(DEMO_KEY, base_url=live.base_url, language="en")
    with pytest.raises(NotFoundError) as nf:
        english.agents.retrieve("nobody_at_all")
    assert "not found" in nf.value.message.lower()


def test_sdk_rate_limit_error(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(fast_limits=False, env={"AIPOD_RATE_LIMIT": "3/minute"})
    client = Client.register(username="sdk_rl", email="rl@example.com", base_url=server.base_url)
    for _ in range(3):
        client.wallet.retrieve()
    with pytest.raises(RateLimitError) as err:
        client.wallet.retrieve()
    assert err.value.status == 429 and err.value.retry_after and err.value.retry_after > 0


def test_sdk_idempotency_keys_and_retries(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aipod_api.sdk import APIConnectionError, IdempotencyKeyReused

    client = Client.register(
        username="sdk_idem", email="idem@example.com", base_url=live.base_url,
        idempotency_key="sdk-register-1",
    )  # fmt: skip
    first = client.tasks.create(title="once", budget=10, idempotency_key="sdk-task-1")
    assert client.last_replayed is False
    again = client.tasks.create(title="once", budget=10, idempotency_key="sdk-task-1")
    assert client.last_replayed is True and again == first
    with pytest.raises(IdempotencyKeyReused) as reused:
        client.tasks.create(title="other", budget=10, idempotency_key="sdk-task-1")
    assert reused.value.status == 422 and reused.value.error == "idempotency_key_reused"

    # max_retries: a write whose answer is lost is sent again under the same (random) key.
    sent: list[tuple[object, ...]] = []
    real_send = Client._send

    def lossy(self: Client, *args: object) -> object:
        sent.append(args)
        out = real_send(self, *args)  # type: ignore[arg-type]
        if len(sent) == 1:
            raise APIConnectionError("the answer was lost")
        return out

    monkeypatch.setattr(Client, "_send", lossy)
    retrying = Client(client.api_key, base_url=live.base_url, max_retries=2, retry_backoff_s=0)
    task = retrying.tasks.create(title="retried", budget=20)
    assert len(sent) == 2 and sent[0][-1] == sent[1][-1] and isinstance(sent[0][-1], str)
    assert retrying.last_replayed is True
    monkeypatch.setattr(Client, "_send", real_send)
    mine = client.tasks.list(publisher="sdk_idem")
    assert mine["total"] == 2 and task["task_id"] in {t["task_id"] for t in mine["items"]}
    assert client.wallet.retrieve()["escrow"] == 30
