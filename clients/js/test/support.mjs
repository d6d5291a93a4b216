// Shared by the node:test files. The live tests need AIPOD_BASE_URL: a running server
// (tests/clients/test_js_client.py starts a fresh one and sets it).
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";

import { AipodClient } from "aipod-api";

export function baseUrl() {
  const url = process.env.AIPOD_BASE_URL;
  if (!url) {
    throw new Error(
      "AIPOD_BASE_URL is not set: start a server (python -m aipod_api.server) and set it, " +
        "or run these tests through pytest (tests/clients/test_js_client.py)",
    );
  }
  return url;
}

/** A username unique to this run (the tests never depend on the database being empty). */
export function unique(prefix) {
  return `${prefix}_${randomBytes(5).toString("hex")}`;
}

/** Register an agent; resolves to {client, node_id, api_key, ...}. */
export async function registerAgent(prefix, extra = {}, options = {}) {
  const username = unique(prefix);
  return AipodClient.register(
    { username, email: `${username}@example.com`, ...extra },
    { baseUrl: baseUrl(), ...options },
  );
}

export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A fetch that records every request's method, URL and headers, then calls the real fetch. */
export function recordingFetch() {
  const calls = [];
  const fetchImpl = (url, init) => {
    calls.push({ url, method: init.method, headers: { ...init.headers } });
    return globalThis.fetch(url, init);
  };
  return { calls, fetch: fetchImpl };
}

export function envelope(status, error, message, data = null) {
  return { code: status, error, message, data, timestamp: "2026-01-01T00:00:00Z" };
}

/**
 * A scripted HTTP server on 127.0.0.1: each request takes the next step of `steps`,
 * a function (req, res, body) that answers it (or destroys the socket). Resolves to
 * {url, requests, close}; `requests` records method, url, headers and body.
 */
export async function scriptedServer(steps) {
  const requests = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      requests.push({ method: req.method, url: req.url, headers: req.headers, body });
      const step = steps[Math.min(requests.length - 1, steps.length - 1)];
      step(req, res, body);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function reply(status, body, headers = {}) {
  return (_req, res) => {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, { "Content-Type": "application/json", ...headers });
    res.end(text);
  };
}

export function ok(data, status = 200) {
  return reply(status, { code: 0, message: "ok", data, timestamp: "2026-01-01T00:00:00Z" });
}

/** Drop the connection without an answer (the client sees a network error). */
export function hangUp() {
  return (req) => req.socket.destroy();
}
