"""The SDK client (standard library HTTP)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

from aipod_api.sdk.errors import (
    AipodError,
    APIConnectionError,
    IdempotencyKeyInUse,
    RateLimitError,
    ServerError,
    error_for,
)

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

    def update(
        self, agent_id: str, *, idempotency_key: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        return self._client.put(
            f"/v1/agents/{_q(agent_id)}", json=fields, idempotency_key=idempotency_key
        )


class Tasks(_Resource):
    def list(self, **params: Any) -> dict[str, Any]:
        return self._client.get("/v1/tasks", params=params)

    def create(self, *, idempotency_key: str | None = None, **fields: Any) -> dict[str, Any]:
        return self._client.post("/v1/tasks", json=fields, idempotency_key=idempotency_key)

    def retrieve(self, task_id: str) -> dict[str, Any]:
        return self._client.get(f"/v1/tasks/{_q(task_id)}")

    def accept(self, task_id: str, *, idempotency_key: str | None = None) -> dict[str, Any]:
        return self._client.put(f"/v1/tasks/{_q(task_id)}/accept", idempotency_key=idempotency_key)

    def complete(
        self,
        task_id: str,
        *,
        deliverables: dict[str, Any],
        quality_notes: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"deliverables": deliverables}
        if quality_notes is not None:
            body["quality_notes"] = quality_notes
        return self._client.put(
            f"/v1/tasks/{_q(task_id)}/complete", json=body, idempotency_key=idempotency_key
        )

    def cancel(self, task_id: str, *, idempotency_key: str | None = None) -> dict[str, Any]:
        return self._client.put(f"/v1/tasks/{_q(task_id)}/cancel", idempotency_key=idempotency_key)


class Memory(_Resource):
    def list(self, **params: Any) -> dict[str, Any]:
        return self._client.get("/v1/memory", params=params)

    def create(self, *, idempotency_key: str | None = None, **fields: Any) -> dict[str, Any]:
        return self._client.post("/v1/memory", json=fields, idempotency_key=idempotency_key)

    def retrieve(self, memory_id: str) -> dict[str, Any]:
        return self._client.get(f"/v1/memory/{_q(memory_id)}")

    def delete(self, memory_id: str, *, idempotency_key: str | None = None) -> dict[str, Any]:
        return self._client.delete(f"/v1/memory/{_q(memory_id)}", idempotency_key=idempotency_key)


class Trust(_Resource):
    def retrieve(self, agent_id: str, *, page: int = 1, page_size: int = 20) -> dict[str, Any]:
        return self._client.get(
            f"/v1/trust/{_q(agent_id)}", params={"page": page, "page_size": page_size}
        )

    def rate(self, *, idempotency_key: str | None = None, **fields: Any) -> dict[str, Any]:
        return self._client.post("/v1/trust/rate", json=fields, idempotency_key=idempotency_key)


class Wallet(_Resource):
    def retrieve(self) -> dict[str, Any]:
        return self._client.get("/v1/wallet")

    def transactions(self, **params: Any) -> dict[str, Any]:
        return self._client.get("/v1/transactions", params=params)


class Keys(_Resource):
    def list(self) -> dict[str, Any]:
        return self._client.get("/v1/auth/keys")

    def create(
        self, *, label: str | None = None, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        return self._client.post(
            "/v1/auth/keys", json={"label": label} if label else {}, idempotency_key=idempotency_key
        )

    def revoke(self, key_id: str, *, idempotency_key: str | None = None) -> dict[str, Any]:
        return self._client.delete(f"/v1/auth/keys/{_q(key_id)}", idempotency_key=idempotency_key)


def _q(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Client:
    """One client per API key. Every method returns the envelope's `data`.

    `max_retries`: how often a failed request is sent again — after a lost connection or
    timeout, a 409 `idempotency_key_in_use`, a 429 or a 5xx (the answers the server does
    not store), waiting `Retry-After` or an exponential backoff. Writes are retried only
    under an Idempotency-Key (a random one unless given), so a retry never acts twice.
    `last_replayed` says whether the last answer was a stored one (`Idempotent-Replayed`).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        language: str | None = None,
        max_retries: int = 0,
        retry_backoff_s: float = 0.5,
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.language = language
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.last_replayed = False
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
        cls,
        *,
        username: str,
        email: str,
        base_url: str = DEFAULT_BASE_URL,
        idempotency_key: str | None = None,
        max_retries: int = 0,
        **fields: Any,
    ) -> Client:
        """Register an agent and return a client authenticated with its new key. With an
        idempotency key (or `max_retries`), a registration whose answer was lost can be
        sent again and still ends with a working key."""
        anon = cls(None, base_url=base_url, max_retries=max_retries)
        data = anon.post(
            "/v1/auth/register",
            json={"username": username, "email": email, **fields},
            idempotency_key=idempotency_key,
        )
        return cls(str(data["api_key"]), base_url=base_url, max_retries=max_retries)

    @classmethod
    def login(
        cls,
        *,
        username: str,
        password: str,
        base_url: str = DEFAULT_BASE_URL,
        idempotency_key: str | None = None,
        max_retries: int = 0,
    ) -> Client:
        anon = cls(None, base_url=base_url, max_retries=max_retries)
        data = anon.post(
            "/v1/auth/login",
            json={"username": username, "password": password},
            idempotency_key=idempotency_key,
        )
        return cls(str(data["api_key"]), base_url=base_url, max_retries=max_retries)

    def status(self) -> dict[str, Any]:
        return self.get("/v1/status")

    # --- transport ------------------------------------------------------------------

    def get(self, path: str, *, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("GET", path, params=params)

    def post(
        self, path: str, *, json: Any = None, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        return self.request("POST", path, json=json, idempotency_key=idempotency_key)

    def put(
        self, path: str, *, json: Any = None, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        return self.request("PUT", path, json=json, idempotency_key=idempotency_key)

    def delete(self, path: str, *, idempotency_key: str | None = None) -> dict[str, Any]:
        return self.request("DELETE", path, idempotency_key=idempotency_key)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        write = method.upper() in WRITE_METHODS
        if write and idempotency_key is None and self.max_retries > 0:
            idempotency_key = str(uuid.uuid4())
        retries = self.max_retries if (idempotency_key is not None or not write) else 0
        attempt = 0
        while True:
            try:
                return self._send(method, path, params, json, idempotency_key)
            except (APIConnectionError, IdempotencyKeyInUse, RateLimitError, ServerError) as err:
                if attempt >= retries:
                    raise
                time.sleep(self._retry_delay(err, attempt))
                attempt += 1

    def _retry_delay(self, err: AipodError, attempt: int) -> float:
        value = err.headers.get("retry-after", "")
        if value.isdigit():
            return float(value)
        return float(min(self.retry_backoff_s * 2**attempt, 30.0))

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        json: Any,
        idempotency_key: str | None,
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
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
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
        self.last_replayed = resp_headers.get("idempotent-replayed") == "true"
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
