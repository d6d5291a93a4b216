"""The Python SDK against the real server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from helpers import DEMO_KEY, LiveServer

from aipod_api.sdk import (
    AuthenticationError,
    Client,
    HTTPTransport,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)


def test_sdk_does_not_import_flask() -> None:
    code = "import sys, aipod_api.sdk; print('flask' in sys.modules, 'sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
    heavy = ("flask", "sqlalchemy", "pydantic", "werkzeug", "orjson", "redis", "granian")
    code = (
        "import sys, aipod_api.cli, aipod_api.sdk.types, aipod_api.sdk.transport; "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class CountingTransport(HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.connects = 0

    def _connect(self, key: tuple[str, str, int], timeout: float | None) -> Any:
        self.connects += 1
        return super()._connect(key, timeout)


def test_sdk_keeps_connections_alive_against_the_server(live: LiveServer) -> None:
    transport = CountingTransport()
    client = Client(DEMO_KEY, base_url=live.base_url, transport=transport)
    for _ in range(20):
        assert client.wallet.retrieve()["agent_id"] == "demo"
    task = client.tasks.create(title="keep-alive", budget=1)
    client.tasks.cancel(task["task_id"])
    assert transport.connects == 1
    client.close()
    assert client.agents.me()["agent_id"] == "demo"
    assert transport.connects == 2


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
    assert new.agents.me()["agent_id"] == "sdk_user" == new.node_id
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
    # max_retries=0: by default the SDK would wait out Retry-After (up to 60 s) and retry
    client = Client.register(
        username="sdk_rl", email="rl@example.com", base_url=server.base_url, max_retries=0
    )
    for _ in range(3):
        client.wallet.retrieve()
    with pytest.raises(RateLimitError) as err:
        client.wallet.retrieve()
    assert err.value.status == 429 and err.value.retry_after and err.value.retry_after > 0
