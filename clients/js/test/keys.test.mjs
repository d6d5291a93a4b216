// Idempotency keys wherever the client runs: Web Crypto's randomUUID (Node >= 19,
// browsers in a secure context), getRandomValues only (browsers on plain http), and no
// Web Crypto at all (Node 18), where node:crypto is imported.
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { test } from "node:test";

import { newIdempotencyKey } from "aipod-api";

import { UUID_V4 } from "./support.mjs";

async function withCrypto(value, run) {
  const saved = Object.getOwnPropertyDescriptor(globalThis, "crypto");
  Object.defineProperty(globalThis, "crypto", { value, configurable: true, writable: true });
  try {
    return await run();
  } finally {
    if (saved) Object.defineProperty(globalThis, "crypto", saved);
    else delete globalThis.crypto;
  }
}

async function distinctKeys(count) {
  const keys = new Set();
  for (let i = 0; i < count; i++) {
    const key = await newIdempotencyKey();
    assert.match(key, UUID_V4);
    keys.add(key);
  }
  assert.equal(keys.size, count);
}

test("randomUUID where Web Crypto has it", async () => {
  let calls = 0;
  const stub = {
    randomUUID: () => {
      calls++;
      return webcrypto.randomUUID();
    },
  };
  await withCrypto(stub, () => distinctKeys(50));
  assert.equal(calls, 50);
});

test("getRandomValues alone (a browser page on plain http)", async () => {
  let calls = 0;
  const stub = {
    getRandomValues: (array) => {
      calls++;
      return webcrypto.getRandomValues(array);
    },
  };
  await withCrypto(stub, () => distinctKeys(200));
  assert.equal(calls, 200);
});

test("no Web Crypto at all (Node 18): node:crypto", async () => {
  await withCrypto(undefined, async () => {
    assert.equal(globalThis.crypto, undefined);
    await distinctKeys(50);
  });
});
