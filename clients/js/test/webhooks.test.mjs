// verifyWebhook against signatures made by node:crypto directly (the Standard Webhooks
// scheme), with and without a global Web Crypto.
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { test } from "node:test";

import { WebhookVerificationError, signWebhook, verifyWebhook } from "aipod-api";

const secret = "whsec_" + randomBytes(32).toString("base64");
const body = '{"id":7,"type":"webhook.test","timestamp":"2026-12-01T12:00:00Z","data":{}}';

function sign(msgId, ts, payload, key = secret) {
  const raw = Buffer.from(key.slice("whsec_".length), "base64");
  return "v1," + createHmac("sha256", raw).update(`${msgId}.${ts}.${payload}`).digest("base64");
}

test("accepts a valid delivery, any header case, several signatures", async () => {
  const ts = Math.floor(Date.now() / 1000);
  const other = "whsec_" + randomBytes(32).toString("base64");
  const headers = {
    "Webhook-Id": "evt_7",
    "Webhook-Timestamp": String(ts),
    "Webhook-Signature": `${sign("evt_7", ts, body, other)} ${sign("evt_7", ts, body)}`,
  };
  assert.deepEqual(await verifyWebhook(body, headers, secret), JSON.parse(body));
  assert.equal(
    (await verifyWebhook(new TextEncoder().encode(body), new Headers(headers), secret)).id,
    7,
  );
  assert.equal(await signWebhook(body, "evt_7", ts, secret), sign("evt_7", ts, body));
});

test("refuses tampering, old or future timestamps, other secrets, missing headers", async () => {
  const ts = Math.floor(Date.now() / 1000);
  const good = {
    "webhook-id": "evt_7",
    "webhook-timestamp": String(ts),
    "webhook-signature": sign("evt_7", ts, body),
  };
  const cases = [
    [body.replace("test", "tent"), good, secret],
    [body, { ...good, "webhook-id": "evt_8" }, secret],
    [
      body,
      {
        ...good,
        "webhook-timestamp": String(ts - 600),
        "webhook-signature": sign("evt_7", ts - 600, body),
      },
      secret,
    ],
    [
      body,
      {
        ...good,
        "webhook-timestamp": String(ts + 600),
        "webhook-signature": sign("evt_7", ts + 600, body),
      },
      secret,
    ],
    [body, good, "whsec_" + randomBytes(32).toString("base64")],
    [body, { "webhook-id": "evt_7" }, secret],
  ];
  for (const [payload, headers, key] of cases) {
    await assert.rejects(verifyWebhook(payload, headers, key), WebhookVerificationError);
  }
});

test("works without a global Web Crypto (Node 18)", async () => {
  const saved = Object.getOwnPropertyDescriptor(globalThis, "crypto");
  Object.defineProperty(globalThis, "crypto", {
    value: undefined,
    configurable: true,
    writable: true,
  });
  try {
    const ts = Math.floor(Date.now() / 1000);
    const headers = {
      "webhook-id": "evt_1",
      "webhook-timestamp": String(ts),
      "webhook-signature": sign("evt_1", ts, body),
    };
    assert.equal((await verifyWebhook(body, headers, secret)).type, "webhook.test");
  } finally {
    if (saved) Object.defineProperty(globalThis, "crypto", saved);
  }
});
