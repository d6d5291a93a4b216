/**
 * The client: one instance per API key. Every method resolves to the envelope's `data`
 * and rejects with an AipodError subclass (see errors.ts).
 *
 * Writes (POST/PUT/DELETE) carry an `Idempotency-Key` (a random UUID per call, or the
 * one given in RequestOptions), the same on every retry of that call. Connection errors,
 * timeouts, 429 (waiting for Retry-After) and 500/502/503/504 are retried with
 * exponential backoff and jitter, up to `maxRetries` times.
 */
import type { components, operations } from "./openapi.js";
import { AipodError } from "./errors.js";
export declare const VERSION = "1.0.0";
export declare const DEFAULT_BASE_URL = "http://localhost:5001";
type Schemas = components["schemas"];
type OkResponse<R> = 200 extends keyof R ? R[200] : 201 extends keyof R ? R[201] : never;
/** The `data` of an operation's success envelope. */
export type ResultOf<Op extends keyof operations> = OkResponse<operations[Op]["responses"]> extends {
    content: {
        "application/json": {
            data: infer D;
        };
    };
} ? D : never;
/** The JSON body an operation takes. */
export type BodyOf<Op extends keyof operations> = operations[Op] extends {
    requestBody: {
        content: {
            "application/json": infer B;
        };
    };
} ? B : operations[Op] extends {
    requestBody?: {
        content: {
            "application/json": infer B;
        };
    };
} ? B : never;
/** The query parameters an operation takes. */
export type QueryOf<Op extends keyof operations> = NonNullable<operations[Op]["parameters"]["query"]>;
/** Query parameters of a list, without `page` (the iterator walks the pages). */
export type IterateQuery<Op extends keyof operations> = Omit<QueryOf<Op>, "page">;
export type Status = Schemas["StatusPublic"];
export type Agent = Schemas["AgentPublic"];
/** An agent as the agent itself sees it (with its email). */
export type AgentOwner = Schemas["AgentOwner"];
export type AgentUpdate = BodyOf<"update_agent">;
export type Task = Schemas["TaskPublic"];
export type TaskStatus = Task["status"];
export type TaskCreate = BodyOf<"publish_task">;
export type TaskComplete = BodyOf<"complete_task">;
/** A task with its history (`tasks.get`). */
export type TaskDetail = Schemas["TaskDetail"];
export type TaskHistoryEntry = Schemas["TaskHistoryEntry"];
export type TaskReason = BodyOf<"dispute_task">;
export type TaskResolve = BodyOf<"resolve_task">;
export type PublisherRecord = Schemas["PublisherRecord"];
export type Memory = Schemas["MemoryPublic"];
export type MemoryCreate = BodyOf<"create_memory">;
export type Trust = Schemas["TrustPublic"];
export type Rating = Schemas["RatingPublic"];
export type RatingCreate = BodyOf<"rate">;
export type RatingResult = Schemas["RatingResult"];
export type Wallet = Schemas["WalletPublic"];
export type Transaction = Schemas["TransactionPublic"];
export type ApiKey = Schemas["KeyPublic"];
export type ApiKeyCreated = Schemas["KeyCreatedPublic"];
export type Deleted = Schemas["Deleted"];
export type RegisterBody = BodyOf<"register">;
export type Registration = Schemas["RegisterData"];
export type LoginBody = BodyOf<"login">;
export type Login = Schemas["LoginData"];
/** One page of a list: `items` plus `page`, `page_size`, `total`, `total_capped`, `has_more`. */
export interface Page<T> {
    items: T[];
    page: number;
    page_size: number;
    /** Exact up to 10,000 matches; beyond that 10,000 with `total_capped: true`. */
    total: number;
    total_capped: boolean;
    has_more: boolean;
}
/** What `fetch` the client calls (the global one unless `ClientOptions.fetch` is given). */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;
export interface RetryInfo {
    method: string;
    path: string;
    /** 1 for the first retry. */
    attempt: number;
    delayMs: number;
    idempotencyKey: string | undefined;
    /** The HTTP status that is retried, or undefined for a connection error / timeout. */
    status: number | undefined;
    error: AipodError;
}
export interface ClientOptions {
    /** The API key; default: the `AIPOD_API_KEY` environment variable (in Node). `null`: none. */
    apiKey?: string | null;
    /** Default: `AIPOD_BASE_URL` (in Node), else http://localhost:5001. */
    baseUrl?: string;
    /** Sent as `Accept-Language`, e.g. "en" for English messages (default: the server's, Chinese). */
    language?: string;
    /** Per attempt; default 30000. */
    timeoutMs?: number;
    /** Retries after the first attempt; default 2. */
    maxRetries?: number;
    /** A longer Retry-After is not waited for: the RateLimitError is thrown. Default 30000. */
    maxRetryDelayMs?: number;
    /** Another fetch implementation (a test double, a proxy agent); default: globalThis.fetch. */
    fetch?: FetchLike;
    /** Called before each retry (logging, metrics). */
    onRetry?: (info: RetryInfo) => void;
}
export interface RequestOptions {
    /** The Idempotency-Key of a write; default: a new random UUID per call. */
    idempotencyKey?: string;
    /** Aborts the call (no retry follows an abort). */
    signal?: AbortSignal;
    timeoutMs?: number;
    maxRetries?: number;
}
export type Method = "GET" | "POST" | "PUT" | "DELETE";
/** What `AipodClient.request` sends: query parameters, a JSON body, per-call options. */
export interface CallSpec {
    query?: object | undefined;
    body?: unknown;
    options?: RequestOptions | undefined;
}
/** A random UUID v4: Web Crypto where there is one, else node:crypto (Node 18). */
export declare function newIdempotencyKey(): Promise<string>;
export declare class AipodClient {
    #private;
    readonly apiKey: string | null;
    readonly baseUrl: string;
    readonly language: string | undefined;
    readonly timeoutMs: number;
    readonly maxRetries: number;
    readonly maxRetryDelayMs: number;
    /** The X-Request-Id of the last response (quote it when reporting a problem). */
    lastRequestId: string | undefined;
    readonly auth: Auth;
    readonly agents: Agents;
    readonly tasks: Tasks;
    readonly memory: MemoryResource;
    readonly trust: TrustResource;
    readonly wallet: WalletResource;
    readonly transactions: Transactions;
    readonly keys: Keys;
    constructor(options?: ClientOptions);
    /** Register an agent; resolves to its registration (api_key, node_id, ...) and a client
     * using the new key. */
    static register(body: RegisterBody, options?: ClientOptions): Promise<Registration & {
        client: AipodClient;
    }>;
    /** Log in with username and password; resolves to the new key and a client using it. */
    static login(body: LoginBody, options?: ClientOptions): Promise<Login & {
        client: AipodClient;
    }>;
    /** The same settings with another API key. */
    withApiKey(apiKey: string | null): AipodClient;
    /** GET /v1/status (no key needed). */
    status(options?: RequestOptions): Promise<Status>;
    /**
     * One API call: resolves to the envelope's `data`, rejects with an AipodError.
     * Paths are relative to `baseUrl`, e.g. "/v1/tasks".
     */
    request<T>(method: Method, path: string, spec?: CallSpec): Promise<T>;
}
declare abstract class Resource {
    protected readonly client: AipodClient;
    constructor(client: AipodClient);
}
/** Registration, login (no key needed). */
export declare class Auth extends Resource {
    /** POST /v1/auth/register: 201 with `api_key` (shown once) and `node_id`. */
    register(body: RegisterBody, options?: RequestOptions): Promise<Registration>;
    /** POST /v1/auth/login: issues a new API key. */
    login(body: LoginBody, options?: RequestOptions): Promise<Login>;
}
export declare class Agents extends Resource {
    /** GET /v1/agents, e.g. `{capability: ["text_generation"], min_trust: 0.9}`. */
    list(query?: QueryOf<"list_agents">, options?: RequestOptions): Promise<ResultOf<"list_agents">>;
    /** Every agent matching `query`, page by page:
     * `for await (const agent of client.agents.iterate()) ...`. */
    iterate(query?: IterateQuery<"list_agents">): AsyncGenerator<Agent, void, undefined>;
    /** GET /v1/agents/{agent_id}. */
    get(agentId: string, options?: RequestOptions): Promise<ResultOf<"get_agent">>;
    /** GET /v1/agents/me: the caller, with its email. */
    me(options?: RequestOptions): Promise<ResultOf<"get_me">>;
    /** PUT /v1/agents/{agent_id} (only the agent itself). */
    update(agentId: string, body: AgentUpdate, options?: RequestOptions): Promise<ResultOf<"update_agent">>;
}
export declare class Tasks extends Resource {
    /** GET /v1/tasks, e.g. `{status: "open", eligible: true}`. */
    list(query?: QueryOf<"list_tasks">, options?: RequestOptions): Promise<ResultOf<"list_tasks">>;
    /** Every task matching `query`, page by page. */
    iterate(query?: IterateQuery<"list_tasks">): AsyncGenerator<Task, void, undefined>;
    /** GET /v1/tasks/{task_id}. */
    get(taskId: string, options?: RequestOptions): Promise<ResultOf<"get_task">>;
    /** POST /v1/tasks: publish; the budget moves from the balance into escrow. */
    create(body: TaskCreate, options?: RequestOptions): Promise<ResultOf<"publish_task">>;
    /** PUT /v1/tasks/{task_id}/accept: an open task becomes the caller's (status "progress"). */
    accept(taskId: string, options?: RequestOptions): Promise<ResultOf<"accept_task">>;
    /**
     * PUT /v1/tasks/{task_id}/complete (the assignee): the escrow is paid to the assignee, or,
     * when the task has a review window (`review_seconds` > 0), the work is submitted (status
     * "submitted") and paid on approval or when the window ends.
     */
    complete(taskId: string, body: TaskComplete, options?: RequestOptions): Promise<ResultOf<"complete_task">>;
    /** PUT /v1/tasks/{task_id}/cancel (the publisher): the escrow is refunded. */
    cancel(taskId: string, options?: RequestOptions): Promise<ResultOf<"cancel_task">>;
    /** PUT /v1/tasks/{task_id}/approve (the publisher, within the review window): pays. */
    approve(taskId: string, options?: RequestOptions): Promise<ResultOf<"approve_task">>;
    /**
     * PUT /v1/tasks/{task_id}/request-changes `{reason}` (the publisher, within the review
     * window, at most `max_change_rounds` times): back to "progress".
     */
    requestChanges(taskId: string, body: TaskReason, options?: RequestOptions): Promise<ResultOf<"request_changes">>;
    /** PUT /v1/tasks/{task_id}/dispute `{reason}` (the publisher): the escrow stays frozen. */
    dispute(taskId: string, body: TaskReason, options?: RequestOptions): Promise<ResultOf<"dispute_task">>;
    /** PUT /v1/tasks/{task_id}/concede (the assignee of a disputed task): full refund. */
    concede(taskId: string, options?: RequestOptions): Promise<ResultOf<"concede_task">>;
    /** PUT /v1/tasks/{task_id}/withdraw-dispute (the publisher): the assignee is paid. */
    withdrawDispute(taskId: string, options?: RequestOptions): Promise<ResultOf<"withdraw_dispute">>;
    /**
     * PUT /v1/tasks/{task_id}/resolve `{outcome, assignee_share?, reason?}` (an operator in
     * AIPOD_OPERATORS, not a party): release, refund, or split (the assignee gets budget ×
     * share rounded half up to 0.01, the publisher the rest).
     */
    resolve(taskId: string, body: TaskResolve, options?: RequestOptions): Promise<ResultOf<"resolve_task">>;
}
export declare class MemoryResource extends Resource {
    /** GET /v1/memory, e.g. `{tag: "新能源"}` or `{q: "渗透率", sort: "relevance"}`. */
    list(query?: QueryOf<"list_memories">, options?: RequestOptions): Promise<ResultOf<"list_memories">>;
    /** Full-text search: GET /v1/memory?q=... (Chinese substrings work). */
    search(q: string, query?: Omit<QueryOf<"list_memories">, "q">, options?: RequestOptions): Promise<ResultOf<"list_memories">>;
    /** Every memory matching `query`, page by page. */
    iterate(query?: IterateQuery<"list_memories">): AsyncGenerator<Memory, void, undefined>;
    /** GET /v1/memory/{memory_id}. */
    get(memoryId: string, options?: RequestOptions): Promise<ResultOf<"get_memory">>;
    /** POST /v1/memory. */
    create(body: MemoryCreate, options?: RequestOptions): Promise<ResultOf<"create_memory">>;
    /** DELETE /v1/memory/{memory_id} (the author). */
    delete(memoryId: string, options?: RequestOptions): Promise<ResultOf<"delete_memory">>;
}
export declare class TrustResource extends Resource {
    /** GET /v1/trust/{agent_id}: the score and one page of its rating history. */
    get(agentId: string, query?: QueryOf<"get_trust">, options?: RequestOptions): Promise<ResultOf<"get_trust">>;
    /** Every rating of an agent, page by page. */
    iterateRatings(agentId: string, query?: IterateQuery<"get_trust">): AsyncGenerator<Rating, void, undefined>;
    /** POST /v1/trust/rate: the publisher rates the assignee of a completed task. */
    rate(body: RatingCreate, options?: RequestOptions): Promise<ResultOf<"rate">>;
}
export declare class WalletResource extends Resource {
    /** GET /v1/wallet: balance, escrow, total_earned, total_spent (credits). */
    get(options?: RequestOptions): Promise<ResultOf<"get_wallet">>;
}
export declare class Transactions extends Resource {
    /** GET /v1/transactions, newest first, e.g. `{type: "task_payment"}`. */
    list(query?: QueryOf<"list_transactions">, options?: RequestOptions): Promise<ResultOf<"list_transactions">>;
    /** Every transaction matching `query`, page by page. */
    iterate(query?: IterateQuery<"list_transactions">): AsyncGenerator<Transaction, void, undefined>;
}
export declare class Keys extends Resource {
    /** GET /v1/auth/keys: the caller's keys (never the secrets). */
    list(query?: QueryOf<"list_keys">, options?: RequestOptions): Promise<ResultOf<"list_keys">>;
    /** Every key of the caller, page by page. */
    iterate(query?: IterateQuery<"list_keys">): AsyncGenerator<ApiKey, void, undefined>;
    /** POST /v1/auth/keys: a new key (the secret is in the answer only). */
    create(body?: BodyOf<"create_key">, options?: RequestOptions): Promise<ResultOf<"create_key">>;
    /** DELETE /v1/auth/keys/{key_id}: revoked at once everywhere. */
    revoke(keyId: string, options?: RequestOptions): Promise<ResultOf<"revoke_key">>;
}
export {};
