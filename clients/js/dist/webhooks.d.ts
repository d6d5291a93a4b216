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
export declare class WebhookVerificationError extends Error {
    name: string;
}
export interface VerifyOptions {
    /** How far, in seconds, `webhook-timestamp` may be from now (default 300). */
    tolerance?: number;
    /** The current time in UNIX seconds (default: the clock). */
    now?: number;
}
type HeaderSource = Headers | Record<string, string | string[] | undefined>;
/** The `v1,<base64>` signature of a delivery (for tests and senders). */
export declare function signWebhook(payload: string | Uint8Array, msgId: string, timestamp: number, secret: string): Promise<string>;
/** Check a delivery's signature and timestamp; resolve to its parsed JSON body. */
export declare function verifyWebhook(payload: string | Uint8Array, headers: HeaderSource, secret: string, options?: VerifyOptions): Promise<unknown>;
export {};
