/**
 * Typed errors. Every error response of the API is an envelope
 * `{code, error, message, data, timestamp}`; the class is chosen by the stable machine
 * code `error` (see ERROR_CLASSES), falling back on the HTTP status for a code this
 * version of the client does not know yet.
 */
import type { components } from "./openapi.js";
/** The stable machine codes (`error`) the server sends, from its OpenAPI document. */
export type ErrorCode = components["schemas"]["ErrorEnvelope"]["error"];
/** One field problem of a 400 `validation_failed` (`data.errors`). */
export type FieldProblem = components["schemas"]["FieldProblem"];
export interface AipodErrorInit {
    /** HTTP status; undefined when no response arrived. */
    status?: number | undefined;
    /** The envelope's `code` (the HTTP status for errors). */
    code?: number | undefined;
    /** The stable machine code, e.g. "insufficient_funds"; branch on this, never on `message`. */
    error?: ErrorCode | (string & {}) | undefined;
    data?: unknown;
    requestId?: string | undefined;
    headers?: Record<string, string> | undefined;
    cause?: unknown;
}
/** The base class of every error this client throws. */
export declare class AipodError extends Error {
    readonly status: number | undefined;
    readonly code: number | undefined;
    readonly error: ErrorCode | (string & {}) | undefined;
    readonly data: unknown;
    readonly requestId: string | undefined;
    /** Response headers, names in lower case. */
    readonly headers: Record<string, string>;
    constructor(message: string, init?: AipodErrorInit);
}
/** The server could not be reached, the connection broke, or no answer came in time. */
export declare class APIConnectionError extends AipodError {
}
/** No answer within `timeoutMs`. */
export declare class APITimeoutError extends APIConnectionError {
}
/** 400 / 405 / 413: the request's shape is wrong; `errors` names each field. */
export declare class InvalidRequestError extends AipodError {
    get errors(): FieldProblem[];
}
/** 401: a missing, unknown or revoked API key, or wrong credentials. */
export declare class AuthenticationError extends AipodError {
}
/** 403: authenticated, but not allowed to do this. */
export declare class PermissionDeniedError extends AipodError {
}
/** 404. */
export declare class NotFoundError extends AipodError {
}
/** 409: the resource's state forbids this (taken, not open, already rated, ...). */
export declare class ConflictError extends AipodError {
}
/** 409 `insufficient_funds`: `balance` and `required` say by how much (credits). */
export declare class InsufficientFundsError extends ConflictError {
    get balance(): number | undefined;
    get required(): number | undefined;
}
/**
 * The `Idempotency-Key` was used for a different request (422 `idempotency_key_reused`) or
 * its first request is still running (409 `idempotency_key_in_use`; the client retries that
 * one itself, with the same key).
 */
export declare class IdempotencyError extends AipodError {
}
/** 429: over a limit; `retryAfter` is the server's Retry-After in seconds. */
export declare class RateLimitError extends AipodError {
    get retryAfter(): number | undefined;
}
/** 5xx. */
export declare class ServerError extends AipodError {
}
export type AipodErrorClass = new (message: string, init?: AipodErrorInit) => AipodError;
/**
 * The class for each machine code. Typed as a Record over the codes of the OpenAPI
 * document, so a code added on the server fails the build until it is mapped here.
 */
export declare const ERROR_CLASSES: Readonly<Record<ErrorCode, AipodErrorClass>>;
/** The error for a response that is not a success envelope. */
export declare function errorFromResponse(status: number, body: unknown, headers: Record<string, string>, requestId: string | undefined): AipodError;
