/**
 * Verify a webhook delivery (Standard Webhooks, symmetric `v1` signatures):
 *
 *     import { verifyWebhook } from "aipod-api";
 *     const event = await verifyWebhook(rawBody, request.headers, "whsec_...");
 *
 * `payload` is the raw body exactly as received (a string or bytes, never re-serialised
 * JSON). Web Crypto (HMAC-SHA256), or node:crypto's where there is no global one
 * (Node 18).
 */
export class WebhookVerificationError extends Error {
    name = "WebhookVerificationError";
}
const SECRET_PREFIX = "whsec_";
const encoder = new TextEncoder();
function header(headers, name) {
    if (typeof headers.get === "function") {
        return headers.get(name) ?? undefined;
    }
    for (const [key, value] of Object.entries(headers)) {
        if (key.toLowerCase() === name) {
            return Array.isArray(value) ? String(value[0]) : value == null ? undefined : String(value);
        }
    }
    return undefined;
}
function fromBase64(text) {
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++)
        out[i] = binary.charCodeAt(i);
    return out;
}
function toBase64(bytes) {
    let binary = "";
    for (const b of bytes)
        binary += String.fromCharCode(b);
    return btoa(binary);
}
let nodeSubtle;
async function subtle() {
    const webCrypto = globalThis.crypto;
    if (webCrypto?.subtle)
        return webCrypto.subtle;
    if (nodeSubtle === undefined) {
        const specifier = "node:crypto"; // a variable, so that bundlers leave it alone
        const mod = (await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier));
        nodeSubtle = mod.webcrypto.subtle;
    }
    return nodeSubtle;
}
/** The `v1,<base64>` signature of a delivery (for tests and senders). */
export async function signWebhook(payload, msgId, timestamp, secret) {
    const raw = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
    let keyBytes;
    try {
        keyBytes = fromBase64(raw);
    }
    catch {
        throw new TypeError("the secret is not whsec_<base64>");
    }
    const crypto = await subtle();
    const key = await crypto.importKey("raw", keyBytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const body = typeof payload === "string" ? encoder.encode(payload) : payload;
    const prefix = encoder.encode(`${msgId}.${timestamp}.`);
    const content = new Uint8Array(prefix.length + body.length);
    content.set(prefix, 0);
    content.set(body, prefix.length);
    const digest = new Uint8Array(await crypto.sign("HMAC", key, content));
    return `v1,${toBase64(digest)}`;
}
function sameBytes(a, b) {
    if (a.length !== b.length)
        return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++)
        diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
    return diff === 0;
}
/** Check a delivery's signature and timestamp; resolve to its parsed JSON body. */
export async function verifyWebhook(payload, headers, secret, options = {}) {
    const msgId = header(headers, "webhook-id");
    const stamp = header(headers, "webhook-timestamp");
    const signatures = header(headers, "webhook-signature");
    if (!msgId || !stamp || !signatures) {
        throw new WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature");
    }
    if (!/^\d+$/.test(stamp)) {
        throw new WebhookVerificationError("webhook-timestamp is not an integer");
    }
    const sent = Number(stamp);
    const now = options.now ?? Date.now() / 1000;
    const tolerance = options.tolerance ?? 300;
    if (sent < now - tolerance)
        throw new WebhookVerificationError("webhook-timestamp is too old");
    if (sent > now + tolerance) {
        throw new WebhookVerificationError("webhook-timestamp is in the future");
    }
    const expected = fromBase64((await signWebhook(payload, msgId, sent, secret)).slice(3));
    for (const candidate of signatures.split(" ")) {
        const comma = candidate.indexOf(",");
        if (comma < 0 || candidate.slice(0, comma) !== "v1")
            continue;
        let given;
        try {
            given = fromBase64(candidate.slice(comma + 1));
        }
        catch {
            continue;
        }
        if (sameBytes(given, expected)) {
            const text = typeof payload === "string" ? payload : new TextDecoder().decode(payload);
            try {
                return JSON.parse(text);
            }
            catch {
                throw new WebhookVerificationError("the body is not JSON");
            }
        }
    }
    throw new WebhookVerificationError("no signature matches the secret");
}
