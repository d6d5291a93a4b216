// Retries, backoff, timeouts and the Idempotency-Key across retries, against scripted
// HTTP servers on 127.0.0.1 (a real server cannot be made to fail on cue).
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test } from "node:test";

import {
  APIConnectionError,
  APITimeoutError,
  AipodClient,
  ConflictError,
  InvalidRequestError,
  RateLimitError,
  ServerError,
} from "aipod-api";

import { UUID_V4, envelope, hangUp, ok, reply, scriptedServer } from "./support.mjs";

async function withServer(steps, run) {
  const server = await scriptedServer(steps);
  try {
    return await run(server);
  } finally {
    await server.close();
  }
}

function clientFor(server, options = {}) {
  const retries = [];
  const client = new AipodClient({
    baseUrl: server.url,
    apiKey: "fg_live_test",
    onRetry: (info) => retries.push(info),
    ...options,
  });
  return { client, retries };
}

test("5xx is retried with backoff, with the same Idempotency-Key on every attempt", async () => {
  const steps = [
    reply(503, envelope(503, "service_unavailable", "存储不可用")),
    reply(500, envelope(500, "internal_error", "服务器内部错误")),
    ok({ task_id: "task_001", status: "open" }, 201),
  ];
  await withServer(steps, async (server) => {
    const { client, retries } = clientFor(server);
    const task = await client.tasks.create({ title: "t", budget: 5 });
    assert.deepEqual(task, { task_id: "task_001", status: "open" });
    assert.equal(server.requests.length, 3);
    const keys = server.requests.map((r) => r.headers["idempotency-key"]);
    assert.match(keys[0], UUID_V4);
    assert.deepEqual(keys, [keys[0], keys[0], keys[0]]);
    for (const r of server.requests) {
      assert.equal(r.method, "POST");
      assert.equal(r.url, "/v1/tasks");
      assert.equal(r.body, JSON.stringify({ title: "t", budget: 5 }));
      assert.equal(r.headers.authorization, "Bearer fg_live_test");
    }
    assert.deepEqual(
      retries.map((r) => [r.attempt, r.status, r.idempotencyKey, r.error.constructor]),
      [
        [1, 503, keys[0], ServerError],
        [2, 500, keys[0], ServerError],
      ],
    );
    // Exponential backoff with jitter: the n-th retry waits between 1/2 and 1 of 500 ms * 2^(n-1).
    assert.ok(retries[0].delayMs >= 250 && retries[0].delayMs <= 500, `${retries[0].delayMs}`);
    assert.ok(retries[1].delayMs >= 500 && retries[1].delayMs <= 1000, `${retries[1].delayMs}`);
  });
});

test("a new call gets a new Idempotency-Key; reads carry none", async () => {
  await withServer([ok({ balance: 1 })], async (server) => {
    const { client } = clientFor(server);
    await client.tasks.accept("task_001");
    await client.tasks.accept("task_001");
    await client.wallet.get();
    const [first, second, read] = server.requests.map((r) => r.headers["idempotency-key"]);
    assert.match(first, UUID_V4);
    assert.match(second, UUID_V4);
    assert.notEqual(first, second);
    assert.equal(read, undefined);
    assert.equal(server.requests[0].method, "PUT");
    assert.equal(server.requests[0].headers["content-type"], undefined, "no body, no type");
  });
});

test("429 waits for Retry-After, then succeeds", async () => {
  const steps = [
    reply(429, envelope(429, "rate_limited", "请求过于频繁"), { "Retry-After": "1" }),
    ok({ items: [], page: 1, page_size: 20, total: 0, total_capped: false, has_more: false }),
  ];
  await withServer(steps, async (server) => {
    const { client, retries } = clientFor(server);
    const page = await client.agents.list();
    assert.equal(page.total, 0);
    assert.equal(server.requests.length, 2);
    assert.equal(retries.length, 1);
    assert.equal(retries[0].delayMs, 1000, "exactly the server's Retry-After");
    assert.ok(retries[0].error instanceof RateLimitError);
    assert.equal(retries[0].error.retryAfter, 1);
  });
});

test("a Retry-After beyond maxRetryDelayMs is not waited for", async () => {
  const steps = [
    reply(429, envelope(429, "login_throttled", "登录失败次数过多"), { "Retry-After": "3600" }),
  ];
  await withServer(steps, async (server) => {
    const { client, retries } = clientFor(server);
    await assert.rejects(client.auth.login({ username: "u", password: "p" }), (err) => {
      assert.ok(err instanceof RateLimitError);
      assert.equal(err.error, "login_throttled");
      assert.equal(err.retryAfter, 3600);
      return true;
    });
    assert.equal(server.requests.length, 1);
    assert.equal(retries.length, 0);
  });
});

test("retries stop after maxRetries; the last error is thrown", async () => {
  await withServer([reply(502, "<html>bad gateway</html>")], async (server) => {
    const { client, retries } = clientFor(server, { maxRetries: 1 });
    await assert.rejects(client.wallet.get(), (err) => {
      assert.ok(err instanceof ServerError);
      assert.equal(err.status, 502);
      assert.equal(err.error, undefined, "not an envelope: no machine code");
      assert.equal(err.message, "HTTP 502");
      return true;
    });
    assert.equal(server.requests.length, 2);
    assert.equal(retries.length, 1);
  });
});

test("4xx other than 429 is not retried", async () => {
  const problems = { errors: [{ field: "budget", message: "缺少必填字段 budget" }] };
  await withServer(
    [reply(400, envelope(400, "validation_failed", "缺少必填字段 budget", problems))],
    async (server) => {
      const { client, retries } = clientFor(server);
      await assert.rejects(client.tasks.create({ title: "t", budget: 1 }), (err) => {
        assert.ok(err instanceof InvalidRequestError);
        assert.deepEqual(err.errors, problems.errors);
        return true;
      });
      assert.equal(server.requests.length, 1);
      assert.equal(retries.length, 0);
    },
  );
});

test("a dropped connection is retried with the same Idempotency-Key", async () => {
  await withServer([hangUp(), ok({ id: "key_1", deleted: true })], async (server) => {
    const { client, retries } = clientFor(server);
    assert.deepEqual(await client.keys.revoke("key_1"), { id: "key_1", deleted: true });
    assert.equal(server.requests.length, 2);
    const [a, b] = server.requests.map((r) => r.headers["idempotency-key"]);
    assert.match(a, UUID_V4);
    assert.equal(a, b);
    assert.equal(retries.length, 1);
    assert.equal(retries[0].status, undefined);
    assert.ok(retries[0].error instanceof APIConnectionError);
  });
});

test("a timeout is an APITimeoutError, retried like a connection error", async () => {
  const slow = () => {}; // never answers: the client's timeout ends the attempt
  await withServer([slow, ok({ status: "ok" })], async (server) => {
    const { client, retries } = clientFor(server, { timeoutMs: 200 });
    assert.deepEqual(await client.status(), { status: "ok" });
    assert.equal(retries.length, 1);
    assert.ok(retries[0].error instanceof APITimeoutError);
  });
  await withServer([slow], async (server) => {
    const { client } = clientFor(server, { timeoutMs: 200, maxRetries: 0 });
    await assert.rejects(client.status(), (err) => {
      assert.ok(err instanceof APITimeoutError);
      assert.ok(err instanceof APIConnectionError);
      assert.equal(err.status, undefined);
      return true;
    });
  });
});

test("nothing listening: APIConnectionError after the retries", async () => {
  // Take a free port, then close it: connections to it are refused.
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  const retries = [];
  const client = new AipodClient({
    baseUrl: `http://127.0.0.1:${port}`,
    apiKey: null,
    maxRetries: 1,
    onRetry: (info) => retries.push(info),
  });
  await assert.rejects(client.status(), (err) => {
    assert.ok(err instanceof APIConnectionError);
    assert.ok(!(err instanceof APITimeoutError));
    assert.match(err.message, /cannot reach http:\/\/127\.0\.0\.1:\d+/);
    assert.ok(err.cause, "the network error is the cause");
    return true;
  });
  assert.equal(retries.length, 1);
});

test("an aborted call is not retried", async () => {
  const slow = () => {};
  await withServer([slow], async (server) => {
    const { client, retries } = clientFor(server);
    const controller = new AbortController();
    const call = client.tasks.list({}, { signal: controller.signal });
    // Abort once the server has the request (bounded by the test's own timeout).
    while (server.requests.length === 0) await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    await assert.rejects(call, (err) => err.name === "AbortError");
    assert.equal(retries.length, 0);
    assert.equal(server.requests.length, 1);
  });
});

test("an unknown machine code falls back on the HTTP status", async () => {
  await withServer(
    [reply(409, envelope(409, "some_future_code", "未来的冲突", { x: 1 }))],
    async (server) => {
      const { client } = clientFor(server);
      await assert.rejects(client.tasks.cancel("task_9"), (err) => {
        assert.ok(err instanceof ConflictError);
        assert.equal(err.error, "some_future_code");
        assert.deepEqual(err.data, { x: 1 });
        assert.equal(err.code, 409);
        return true;
      });
    },
  );
});

test("query strings: arrays repeat, booleans are words, null/undefined are left out", async () => {
  const empty = {
    items: [],
    page: 1,
    page_size: 20,
    total: 0,
    total_capped: false,
    has_more: false,
  };
  await withServer([ok(empty)], async (server) => {
    const { client } = clientFor(server, { language: "en" });
    await client.tasks.list({
      capability: ["a b", "中文"],
      eligible: true,
      publisher: null,
      assignee: undefined,
      page_size: 5,
    });
    await client.agents.get("a/b?c");
    const [list, get] = server.requests;
    assert.equal(
      list.url,
      "/v1/tasks?capability=a+b&capability=%E4%B8%AD%E6%96%87&eligible=true&page_size=5",
    );
    assert.equal(list.headers["accept-language"], "en");
    assert.equal(get.url, "/v1/agents/a%2Fb%3Fc");
  });
});
