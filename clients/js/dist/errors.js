/**
 * Typed errors. Every error response of the API is an envelope
 * `{code, error, message, data, timestamp}`; the class is chosen by the stable machine
 * code `error` (see ERROR_CLASSES), falling back on the HTTP status for a code this
 * version of the client does not know yet.
 */
/** The base class of every error this client throws. */
export class AipodError extends Error {
    status;
    code;
    error;
    data;
    requestId;
    /** Response headers, names in lower case. */
    headers;
    constructor(message, init = {}) {
        super(message, init.cause === undefined ? undefined : { cause: init.cause });
        this.name = new.target.name;
        this.status = init.status;
        this.code = init.code;
        this.error = init.error;
        this.data = init.data ?? null;
        this.requestId = init.requestId;
        this.headers = init.headers ?? {};
    }
}
/** The server could not be reached, the connection broke, or no answer came in time. */
export class APIConnectionError extends AipodError {
}
/** No answer within `timeoutMs`. */
export class APITimeoutError extends APIConnectionError {
}
/** 400 / 405 / 413: the request's shape is wrong; `errors` names each field. */
export class InvalidRequestError extends AipodError {
    get errors() {
        const data = this.data;
        return Array.isArray(data?.errors) ? data.errors : [];
    }
}
/** 401: a missing, unknown or revoked API key, or wrong credentials. */
export class AuthenticationError extends AipodError {
}
/** 403: authenticated, but not allowed to do this. */
export class PermissionDeniedError extends AipodError {
}
/** 404. */
export class NotFoundError extends AipodError {
}
/** 409: the resource's state forbids this (taken, not open, already rated, ...). */
export class ConflictError extends AipodError {
}
/** 409 `insufficient_funds`: `balance` and `required` say by how much (credits). */
export class InsufficientFundsError extends ConflictError {
    get balance() {
        return this.data?.balance;
    }
    get required() {
        return this.data?.required;
    }
}
/**
 * The `Idempotency-Key` was used for a different request (422 `idempotency_key_reused`) or
 * its first request is still running (409 `idempotency_key_in_use`; the client retries that
 * one itself, with the same key).
 */
export class IdempotencyError extends AipodError {
}
/** 429: over a limit; `retryAfter` is the server's Retry-After in seconds. */
export class RateLimitError extends AipodError {
    get retryAfter() {
        const value = this.headers["retry-after"];
        return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
    }
}
/** 5xx. */
export class ServerError extends AipodError {
}
/**
 * The class for each machine code. Typed as a Record over the codes of the OpenAPI
 * document, so a code added on the server fails the build until it is mapped here.
 */
export const ERROR_CLASSES = Object.freeze({
    validation_failed: InvalidRequestError,
    invalid_json: InvalidRequestError,
    bad_request: InvalidRequestError,
    payload_too_large: InvalidRequestError,
    request_timeout: InvalidRequestError,
    body_incomplete: InvalidRequestError,
    route_not_found: NotFoundError,
    method_not_allowed: InvalidRequestError,
    http_error: InvalidRequestError,
    invalid_api_key: AuthenticationError,
    invalid_credentials: AuthenticationError,
    demo_disabled: AuthenticationError,
    rate_limited: RateLimitError,
    too_many_in_flight: RateLimitError,
    too_many_streams: RateLimitError,
    login_throttled: RateLimitError,
    forbidden: PermissionDeniedError,
    not_found: NotFoundError,
    conflict: ConflictError,
    username_taken: ConflictError,
    email_taken: ConflictError,
    key_not_found: NotFoundError,
    last_key: ConflictError,
    idempotency_key_reused: IdempotencyError,
    idempotency_key_in_use: IdempotencyError,
    idempotency_key_secret_used: ConflictError,
    too_many_keys: ConflictError,
    login_keys_exhausted: ConflictError,
    agent_not_found: NotFoundError,
    not_owner: PermissionDeniedError,
    task_not_found: NotFoundError,
    own_task: PermissionDeniedError,
    missing_capabilities: PermissionDeniedError,
    not_assignee: PermissionDeniedError,
    not_publisher: PermissionDeniedError,
    illegal_transition: ConflictError,
    task_not_acceptable: ConflictError,
    task_not_in_progress: ConflictError,
    task_not_cancellable: ConflictError,
    task_in_progress_before_deadline: ConflictError,
    not_operator: PermissionDeniedError,
    task_not_submitted: ConflictError,
    task_not_disputed: ConflictError,
    change_rounds_exhausted: ConflictError,
    task_not_paid: ConflictError,
    insufficient_funds: InsufficientFundsError,
    not_task_publisher: PermissionDeniedError,
    task_not_done: ConflictError,
    already_rated: ConflictError,
    memory_not_found: NotFoundError,
    memory_not_author: PermissionDeniedError,
    memory_unknown_participants: InvalidRequestError,
    webhook_url_refused: InvalidRequestError,
    webhook_not_found: NotFoundError,
    webhook_delivery_not_found: NotFoundError,
    too_many_webhooks: ConflictError,
    webhook_disabled: ConflictError,
    internal_error: ServerError,
    service_unavailable: ServerError,
    hashing_busy: ServerError,
    busy_retry: ServerError,
});
function classForStatus(status) {
    if (status === 400 || status === 405 || status === 413 || status === 422) {
        return InvalidRequestError;
    }
    if (status === 401)
        return AuthenticationError;
    if (status === 403)
        return PermissionDeniedError;
    if (status === 404)
        return NotFoundError;
    if (status === 409)
        return ConflictError;
    if (status === 429)
        return RateLimitError;
    if (status >= 500)
        return ServerError;
    return AipodError;
}
/** The error for a response that is not a success envelope. */
export function errorFromResponse(status, body, headers, requestId) {
    let message = `HTTP ${status}`;
    let code = status;
    let error;
    let data = null;
    if (body !== null && typeof body === "object" && !Array.isArray(body)) {
        const envelope = body;
        if (typeof envelope.message === "string" && envelope.message)
            message = envelope.message;
        if (typeof envelope.code === "number")
            code = envelope.code;
        if (typeof envelope.error === "string")
            error = envelope.error;
        data = envelope.data ?? null;
    }
    const known = error !== undefined && Object.hasOwn(ERROR_CLASSES, error);
    const cls = known ? ERROR_CLASSES[error] : classForStatus(status);
    return new cls(message, { status, code, error, data, requestId, headers });
}
