// The client against a real server (AIPOD_BASE_URL; see support.mjs).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  AipodClient,
  AuthenticationError,
  ConflictError,
  ERROR_CLASSES,
  InsufficientFundsError,
  InvalidRequestError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  ServerError,
} from "aipod-api";

import { UUID_V4, baseUrl, recordingFetch, registerAgent, unique } from "./support.mjs";

const FUTURE = new Date(Date.now() + 2 * 24 * 3600 * 1000).toISOString();

test("status, register, login and API keys", async () => {
  const anonymous = new AipodClient({ baseUrl: baseUrl(), apiKey: null });
  assert.equal((await anonymous.status()).status, "ok");

  const username = unique("js_keys");
  const registered = await AipodClient.register(
    { username, email: `${username}@example.com`, password: "js-password-1", nickname: "小明" },
    { baseUrl: baseUrl() },
  );
  assert.equal(registered.node_id, username);
  assert.match(registered.api_key, /^fg_live_/);
  assert.equal(registered.agent.email, `${username}@example.com`);
  const me = await registered.client.agents.me();
  assert.equal(me.agent_id, username);
  assert.equal(me.nickname, "小明");
  const updated = await registered.client.agents.update(username, {
    nickname: "新昵称",
    capabilities: ["coding", "text_generation"],
    endpoint: "https://agent.example.com/hook",
  });
  assert.equal(updated.nickname, "新昵称");
  assert.deepEqual(updated.capabilities, ["coding", "text_generation"]);

  const login = await AipodClient.login(
    { username, password: "js-password-1" },
    { baseUrl: baseUrl() },
  );
  assert.equal(login.node_id, username);
  assert.notEqual(login.api_key, registered.api_key);
  assert.equal((await login.client.agents.me()).agent_id, username);

  const spare = await registered.client.keys.create({ label: "spare" });
  assert.equal(spare.label, "spare");
  const keyIds = [];
  for await (const key of registered.client.keys.iterate({ page_size: 1 })) keyIds.push(key.key_id);
  assert.equal(keyIds.length, 3, "the registration key, the login key and the spare");
  assert.ok(keyIds.includes(spare.key_id));
  const revoked = await registered.client.keys.revoke(spare.key_id);
  assert.deepEqual(revoked, { id: spare.key_id, deleted: true });

  const stale = registered.client.withApiKey(spare.api_key);
  await assert.rejects(stale.agents.me(), (err) => {
    assert.ok(err instanceof AuthenticationError);
    assert.equal(err.status, 401);
    assert.equal(err.error, "invalid_api_key");
    assert.ok(err.requestId, "the request id travels with the error");
    return true;
  });
  await assert.rejects(
    AipodClient.login({ username, password: "wrong-password" }, { baseUrl: baseUrl() }),
    (err) => err instanceof AuthenticationError && err.error === "invalid_credentials",
  );
  await assert.rejects(
    AipodClient.register({ username, email: "other@example.com" }, { baseUrl: baseUrl() }),
    (err) => err instanceof ConflictError && err.error === "username_taken",
  );
});

test("two agents: publish, find, accept, complete, rate; money exact to the cent", async () => {
  const capability = unique("cap");
  const alice = await registerAgent("js_alice");
  const bob = await registerAgent("js_bob", { capabilities: [capability, "text_generation"] });
  const aliceStart = await alice.client.wallet.get();
  const bobStart = await bob.client.wallet.get();

  const task = await alice.client.tasks.create({
    title: "季度报告 quarterly report",
    description: "JS client test",
    required_capabilities: [capability],
    budget: 123.45,
    deadline: FUTURE,
  });
  assert.equal(task.status, "open");
  assert.equal(task.publisher_id, alice.node_id);
  assert.equal(task.budget, 123.45);
  const held = await alice.client.wallet.get();
  assert.equal(Math.round(held.balance * 100), Math.round(aliceStart.balance * 100) - 12345);
  assert.equal(held.escrow, 123.45);

  // Bob finds it among the open tasks he may accept.
  const eligible = [];
  for await (const t of bob.client.tasks.iterate({
    status: "open",
    eligible: true,
    capability: [capability],
  })) {
    eligible.push(t.task_id);
  }
  assert.deepEqual(eligible, [task.task_id]);
  const agents = await alice.client.agents.list({ capability: [capability] });
  assert.deepEqual(
    agents.items.map((a) => a.agent_id),
    [bob.node_id],
  );

  const profile = await alice.client.agents.get(bob.node_id);
  assert.deepEqual(profile.capabilities.sort(), [capability, "text_generation"].sort());
  assert.equal("email" in profile, false, "another agent's email is private");

  const accepted = await bob.client.tasks.accept(task.task_id);
  assert.equal(accepted.status, "progress");
  assert.equal(accepted.assignee_id, bob.node_id);
  const done = await bob.client.tasks.complete(task.task_id, {
    deliverables: { report: "报告内容", files: ["report.pdf"] },
    quality_notes: "按时完成",
  });
  assert.equal(done.status, "done");
  assert.deepEqual(done.deliverables, { report: "报告内容", files: ["report.pdf"] });

  const rated = await alice.client.trust.rate({
    agent_id: bob.node_id,
    task_id: task.task_id,
    quality_score: 5,
    on_time: true,
    comment: "很好",
  });
  assert.equal(rated.rating.task_id, task.task_id);
  const trust = await alice.client.trust.get(bob.node_id);
  assert.equal(trust.ratings_count, 1);
  assert.equal(trust.trust_score, rated.trust_score);
  const ratings = [];
  for await (const r of alice.client.trust.iterateRatings(bob.node_id)) ratings.push(r.task_id);
  assert.deepEqual(ratings, [task.task_id]);
  assert.equal((await bob.client.tasks.get(task.task_id)).rated, true);

  const aliceEnd = await alice.client.wallet.get();
  const bobEnd = await bob.client.wallet.get();
  assert.equal(Math.round(aliceEnd.balance * 100), Math.round(aliceStart.balance * 100) - 12345);
  assert.equal(aliceEnd.escrow, 0);
  assert.equal(aliceEnd.total_spent, 123.45);
  assert.equal(Math.round(bobEnd.balance * 100), Math.round(bobStart.balance * 100) + 12345);
  assert.equal(bobEnd.total_earned, 123.45);

  const bobTypes = [];
  for await (const tx of bob.client.transactions.iterate()) bobTypes.push([tx.type, tx.amount]);
  assert.deepEqual(bobTypes, [
    ["task_payment", 123.45],
    ["signup_credit", bobStart.balance],
  ]);
  const payments = await bob.client.transactions.list({
    type: "task_payment",
    task_id: task.task_id,
  });
  assert.equal(payments.total, 1);
  assert.equal(payments.items[0].counterparty_id, alice.node_id);
});

test("pay on approval: submit, request changes, approve; dispute, concede, withdraw", async () => {
  const pub = await registerAgent("js_rv_pub");
  const worker = await registerAgent("js_rv_worker");
  const submitted = async () => {
    const task = await pub.client.tasks.create({ title: "审阅", budget: 40, review_seconds: 600 });
    await worker.client.tasks.accept(task.task_id);
    const done = await worker.client.tasks.complete(task.task_id, { deliverables: { v: 1 } });
    assert.equal(done.status, "submitted");
    assert.equal(done.review_seconds, 600);
    return task.task_id;
  };
  const first = await submitted();
  const back = await pub.client.tasks.requestChanges(first, { reason: "再改改" });
  assert.equal(back.status, "progress");
  assert.equal(back.change_rounds, 1);
  await worker.client.tasks.complete(first, { deliverables: { v: 2 } });
  const paid = await pub.client.tasks.approve(first);
  assert.equal(paid.status, "done");
  assert.equal(paid.payout, 40);
  const detail = await pub.client.tasks.get(first);
  assert.deepEqual(
    detail.history.map((h) => h.action),
    ["publish", "accept", "submit", "request_changes", "submit", "approve"],
  );
  await assert.rejects(pub.client.tasks.approve(first), (err) => {
    assert.ok(err instanceof ConflictError);
    assert.equal(err.error, "task_not_submitted");
    return true;
  });

  const second = await submitted();
  assert.equal((await pub.client.tasks.dispute(second, { reason: "不对" })).status, "disputed");
  await assert.rejects(
    worker.client.tasks.resolve(second, { outcome: "release" }),
    (err) => err instanceof PermissionDeniedError && err.error === "not_operator",
  );
  assert.equal((await worker.client.tasks.concede(second)).status, "cancelled");
  const third = await submitted();
  await pub.client.tasks.dispute(third, { reason: "再看看" });
  assert.equal((await pub.client.tasks.withdrawDispute(third)).status, "done");
  const record = (await worker.client.agents.get(pub.node_id)).publisher_record;
  assert.deepEqual(record, {
    tasks_published: 3,
    reviews_approved: 1,
    disputes_opened: 2,
    disputes_lost: 1,
    approval_rate: 0.3333,
  });
  assert.equal((await worker.client.wallet.get()).balance, 1080);
});

test("errors are chosen by the machine code, messages follow the language", async () => {
  const alice = await registerAgent("js_err_a");
  const bob = await registerAgent("js_err_b");
  const carol = await registerAgent("js_err_c");
  const task = await alice.client.tasks.create({ title: "t", budget: 10, deadline: FUTURE });

  await assert.rejects(alice.client.tasks.accept(task.task_id), (err) => {
    assert.ok(err instanceof PermissionDeniedError);
    assert.equal(err.error, "own_task");
    assert.equal(err.status, 403);
    assert.equal(err.message, "不能承接自己发布的任务");
    return true;
  });
  await bob.client.tasks.accept(task.task_id);
  await assert.rejects(carol.client.tasks.accept(task.task_id), (err) => {
    assert.ok(err instanceof ConflictError);
    assert.ok(!(err instanceof InsufficientFundsError));
    assert.equal(err.error, "task_not_acceptable");
    return true;
  });
  const { balance } = await alice.client.wallet.get();
  await assert.rejects(
    alice.client.tasks.create({ title: "too much", budget: 1_000_000 }),
    (err) => {
      assert.ok(err instanceof InsufficientFundsError);
      assert.ok(err instanceof ConflictError);
      assert.equal(err.status, 409);
      assert.equal(err.balance, balance);
      assert.equal(err.required, 1_000_000);
      return true;
    },
  );
  await assert.rejects(
    alice.client.trust.rate({ agent_id: bob.node_id, task_id: task.task_id, quality_score: 5 }),
    (err) => {
      assert.ok(err instanceof InvalidRequestError);
      assert.equal(err.error, "validation_failed");
      assert.deepEqual(
        err.errors.map((e) => e.field),
        ["on_time"],
      );
      return true;
    },
  );
  await assert.rejects(
    alice.client.agents.get("no_such_agent_anywhere"),
    (err) => err instanceof NotFoundError && err.error === "agent_not_found",
  );
  await assert.rejects(
    alice.client.request("GET", "/v1/no-such-route"),
    (err) => err instanceof NotFoundError && err.error === "route_not_found",
  );
  await assert.rejects(
    alice.client.agents.update(bob.node_id, { nickname: "hijack" }),
    (err) => err instanceof PermissionDeniedError && err.error === "not_owner",
  );

  const english = new AipodClient({ baseUrl: baseUrl(), apiKey: alice.api_key, language: "en" });
  await assert.rejects(english.tasks.get("task_does_not_exist"), (err) => {
    assert.ok(err instanceof NotFoundError);
    assert.equal(err.error, "task_not_found");
    assert.equal(err.message, "Task not found: task_does_not_exist");
    return true;
  });
  await assert.rejects(
    alice.client.tasks.get("task_does_not_exist"),
    (err) => err.message === "任务不存在: task_does_not_exist",
  );
});

test("every machine code of the server's OpenAPI document has its class", async () => {
  const response = await fetch(`${baseUrl()}/v1/openapi.json`);
  const document = await response.json();
  const codes = document.components.schemas.ErrorEnvelope.properties.error.enum;
  assert.deepEqual(Object.keys(ERROR_CLASSES).sort(), [...codes].sort());
  assert.equal(ERROR_CLASSES.insufficient_funds, InsufficientFundsError);
  assert.equal(ERROR_CLASSES.too_many_in_flight, RateLimitError);
  assert.equal(ERROR_CLASSES.service_unavailable, ServerError);
});

test("iterators walk every page, in the list's order", async () => {
  const author = await registerAgent("js_pages");
  const tag = unique("tag").slice(0, 32);
  const created = [];
  for (let i = 0; i < 5; i++) {
    const memory = await author.client.memory.create({
      content: `第${i}条:2026年Q1新能源渗透率超过40% ${tag}`,
      tags: [tag],
    });
    created.push(memory.memory_id);
  }
  const first = await author.client.memory.list({ tag, page_size: 2 });
  assert.equal(first.total, 5);
  assert.equal(first.has_more, true);
  const walked = [];
  for await (const memory of author.client.memory.iterate({ tag, page_size: 2 })) {
    walked.push(memory.memory_id);
  }
  assert.deepEqual(walked, [...created].reverse(), "newest first, each exactly once");

  const found = await author.client.memory.search("渗透率", { author: author.node_id });
  assert.equal(found.total, 5);
  const one = await author.client.memory.get(created[0]);
  assert.match(one.content, /^第0条/);
  assert.deepEqual(await author.client.memory.delete(created[0]), {
    id: created[0],
    deleted: true,
  });
  await assert.rejects(
    author.client.memory.get(created[0]),
    (err) => err instanceof NotFoundError && err.error === "memory_not_found",
  );

  // Breaking out of the loop stops the paging (no further page is fetched).
  const recorder = recordingFetch();
  const client = new AipodClient({
    baseUrl: baseUrl(),
    apiKey: author.api_key,
    fetch: recorder.fetch,
  });
  for await (const memory of client.memory.iterate({ tag, page_size: 1 })) {
    assert.ok(memory.memory_id);
    break;
  }
  assert.equal(recorder.calls.length, 1);
});

test("every write carries an Idempotency-Key, reads none; a given key is sent as is", async () => {
  const recorder = recordingFetch();
  const username = unique("js_idem");
  const anonymous = new AipodClient({ baseUrl: baseUrl(), apiKey: null, fetch: recorder.fetch });
  const registration = await anonymous.auth.register({
    username,
    email: `${username}@example.com`,
  });
  const client = anonymous.withApiKey(registration.api_key);
  const task = await client.tasks.create({ title: "idempotent", budget: 1, deadline: FUTURE });
  await client.tasks.get(task.task_id);
  const cancelled = await client.tasks.cancel(task.task_id, { idempotencyKey: "my-own-key-0001" });
  assert.equal(cancelled.status, "cancelled");
  const memory = await client.memory.create({ content: "idempotency" });
  await client.memory.delete(memory.memory_id);
  await client.wallet.get();

  const writes = recorder.calls.filter((c) => c.method !== "GET");
  const reads = recorder.calls.filter((c) => c.method === "GET");
  assert.deepEqual(
    writes.map((c) => c.method),
    ["POST", "POST", "PUT", "POST", "DELETE"],
  );
  assert.equal(reads.length, 2);
  for (const read of reads) assert.equal(read.headers["Idempotency-Key"], undefined);
  const keys = writes.map((c) => c.headers["Idempotency-Key"]);
  assert.equal(keys[2], "my-own-key-0001");
  const generated = keys.filter((_, i) => i !== 2);
  for (const key of generated) assert.match(key, UUID_V4);
  assert.equal(new Set(generated).size, generated.length, "a new key for every call");
  assert.equal(writes[1].headers.Authorization, `Bearer ${registration.api_key}`);
  assert.equal(writes[0].headers.Authorization, undefined);
});

test("the key and the base URL come from AIPOD_API_KEY / AIPOD_BASE_URL by default", async () => {
  const agent = await registerAgent("js_env");
  const saved = process.env.AIPOD_API_KEY;
  process.env.AIPOD_API_KEY = agent.api_key;
  try {
    const client = new AipodClient();
    assert.equal(client.baseUrl, baseUrl().replace(/\/+$/, ""));
    assert.equal((await client.agents.me()).agent_id, agent.node_id);
    assert.equal(new AipodClient({ apiKey: null }).apiKey, null);
  } finally {
    if (saved === undefined) delete process.env.AIPOD_API_KEY;
    else process.env.AIPOD_API_KEY = saved;
  }
});
