"""The SDK client (standard library HTTP)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from aipod_api.sdk.errors import APIConnectionError, error_for

DEFAULT_BASE_URL = "http://localhost:5001"


class _Resource:
    def __init__(self, client: Client) -> None:
        self._client = client


class Agents(_Resource):
    def list(
        self,
        *,
        capability: list[str] | str | None = None,
        min_trust: float | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> dict[str, Any]:
        return self._client.get(
            "/v1/agents",
            params={
                "capability": capability,
                "min_trust": min_trust,
                "page": page,
                "page_size": page_size,
            },
        )

    def retrieve(self, agent_id: str) -> dict[str, Any]:
        return self._client.get(f"/v1/agents/{_q(agent_id)}")

    def me(self) -> dict[str, Any]:
        return self._client.get("/v1/agents/me")

    def update(self, agent_id: str, **fields: Any) -> dict[str, Any]:
        return self._client.put(f"/v1/agents/{_q(agent_id)}", json=fields)


class Tasks(_Resource):
    def list(self, **params: Any) -> dict[str, Any]:
        return self._client.get("/v1/tasks", params=params)

    def create(self, **fields: Any) -> dict[str, Any]:
        return self._client.post("/v1/tasks", json=fields)

    def retrieve(self, task_id: str) -> dict[str, Any]:
        return self._client.get(f"/v1/tasks/{_q(task_id)}")

    def accept(self, task_id: str) -> dict[str, Any]:
        return self._client.put(f"/v1/tasks/{_q(task_id)}/accept")

    def complete(
        self, task_id: str, *, deliverables: dict[str, Any], quality_notes: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"deliverables": deliverables}
        if quality_notes is not None:
            body["quality_notes"] = quality_notes
        return self._client.put(f"/v1/tasks/{_q(task_id)}/complete", json=body)

    def cancel(self, task_id: str) -> dict[str, Any]:
        return self._client.put(f"/v1/tasks/{_q(task_id)}/cancel")


class Memory(_Resource):
    def list(self, **params: Any) -> dict[str, Any]:
        return self._client.get("/v1/memory", params=params)

    def create(self, **fields: Any) -> dict[str, Any]:
        return self._client.post("/v1/memory", json=fields)

    def retrieve(self, memory_id: str) -> dict[str, Any]:
        return self._client.get(f"/v1/memory/{_q(memory_id)}")

    def delete(self, memory_id: str) -> dict[str, Any]:
        return self._client.delete(f"/v1/memory/{_q(memory_id)}")


class Trust(_Resource):
    def retrieve(self, agent_id: str, *, page: int = 1, page_size: int = 20) -> dict[str, Any]:
        return self._client.get(
            f"/v1/trust/{_q(agent_id)}", params={"page": page, "page_size": page_size}
        )

    def rate(self, **fields: Any) -> dict[str, Any]:
        return self._client.post("/v1/trust/rate", json=fields)


class Wallet(_Resource):
    def retrieve(self) -> dict[str, Any]:
        return self._client.get("/v1/wallet")

    def transactions(self, **params: Any) -> dict[str, Any]:
        return self._client.get("/v1/transactions", params=params)


class Keys(_Resource):
    def list(self) -> dict[str, Any]:
        return self._client.get("/v1/auth/keys")

    def create(self, *, label: str | None = None) -> dict[str, Any]:
        return self._client.post("/v1/auth/keys", json={"label": label} if label else {})

    def revoke(self, key_id: str) -> dict[str, Any]:
        return self._client.delete(f"/v1/auth/keys/{_q(key_id)}")


def _q(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


class Client:
    """One client per API key. Every method returns the envelope's `data`."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        language: str | None = None,
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.language = language
        self.agents = Agents(self)
        self.tasks = Tasks(self)
        self.memory = Memory(self)
        self.trust = Trust(self)
        self.wallet = Wallet(self)
        self.keys = Keys(self)
        self.last_request_id: str | None = None

    # --- account helpers -------------------------------------------------------------

    @classmethod
    def register(
        cls, *, username: str, email: str, base_url: str = DEFAULT_BASE_URL, **fields: Any
    ) -> Client:
        """Register an agent and return a client authenticated with its new key."""
        anon = cls(None, base_url=base_url)
        data = anon.post("/v1/auth/register", json={"username": username, "email": email, **fields})
        return cls(str(data["api_key"]), base_url=base_url)

    @classmethod
    def login(cls, *, username: str, password: str, base_url: str = DEFAULT_BASE_URL) -> Client:
        anon = cls(None, base_url=base_url)
        data = anon.post("/v1/auth/login", json={"username": username, "password": password})
        return cls(str(data["api_key"]), base_url=base_url)

    def status(self) -> dict[str, Any]:
        return self.get("/v1/status")

    # --- transport ------------------------------------------------------------------

    def get(self, path: str, *, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("GET", path, params=params)

    def post(self, path: str, *, json: Any = None) -> dict[str, Any]:
        return self.request("POST", path, json=json)

    def put(self, path: str, *, json: Any = None) -> dict[str, Any]:
        return self.request("PUT", path, json=json)

    def delete(self, path: str) -> dict[str, Any]:
        return self.request("DELETE", path)

    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> dict[str, Any]:
        url = self.base_url + path
        if params:
            pairs: list[tuple[str, str]] = []
            for name, value in params.items():
                if value is None:
                    continue
                values = value if isinstance(value, list | tuple) else [value]
                for item in values:
                    text = ("true" if item else "false") if isinstance(item, bool) else str(item)
                    pairs.append((name, text))
            if pairs:
                url += "?" + urllib.parse.urlencode(pairs)
        headers = {"Accept": "application/json", "User-Agent": "aipod-api-python"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if self.language:
            headers["Accept-Language"] = self.language
        payload = None
        if json is not None:
            payload = _dumps(json)
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=payload, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status = resp.status
                raw = resp.read()
                resp_headers = {k.lower(): v for k, v in resp.headers.items()}
        except urllib.error.HTTPError as err:
            status = err.code
            raw = err.read()
            resp_headers = {k.lower(): v for k, v in err.headers.items()}
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            raise APIConnectionError(f"cannot reach {self.base_url}: {err}") from err
        self.last_request_id = resp_headers.get("x-request-id")
        try:
            body = _loads(raw) if raw else None
        except ValueError:
            body = None
        if status >= 400 or not isinstance(body, dict) or body.get("code") != 0:
            raise error_for(status, body, resp_headers, self.last_request_id)
        data = body.get("data")
        return data if isinstance(data, dict) else {"value": data}


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")


def _loads(raw: bytes) -> Any:
    return json.loads(raw.decode("utf-8"))
