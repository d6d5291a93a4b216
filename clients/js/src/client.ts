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
import { APIConnectionError, APITimeoutError, AipodError, errorFromResponse } from "./errors.js";

export const VERSION = "1.0.0";
export const DEFAULT_BASE_URL = "http://localhost:5001";

// --- types derived from the OpenAPI document (src/openapi.ts, generated) -------------

type Schemas = components["schemas"];
type OkResponse<R> = 200 extends keyof R ? R[200] : 201 extends keyof R ? R[201] : never;
/** The `data` of an operation's success envelope. */
export type ResultOf<Op extends keyof operations> =
  OkResponse<operations[Op]["responses"]> extends {
    content: { "application/json": { data: infer D } };
  }
    ? D
    : never;
/** The JSON body an operation takes. */
export type BodyOf<Op extends keyof operations> = operations[Op] extends {
  requestBody: { content: { "application/json": infer B } };
}
  ? B
  : operations[Op] extends { requestBody?: { content: { "application/json": infer B } } }
    ? B
    : never;
/** The query parameters an operation takes. */
export type QueryOf<Op extends keyof operations> = NonNullable<
  operations[Op]["parameters"]["query"]
>;
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

// --- options -------------------------------------------------------------------------

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

type QueryValue = string | number | boolean | null | undefined | readonly (string | number)[];
export type Method = "GET" | "POST" | "PUT" | "DELETE";

/** What `AipodClient.request` sends: query parameters, a JSON body, per-call options. */
export interface CallSpec {
  query?: object | undefined;
  body?: unknown;
  options?: RequestOptions | undefined;
}

const WRITE_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "DELETE"]);
const RETRY_STATUSES: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 8000;
const ITERATE_PAGE_SIZE = 100;

function readEnv(name: string): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const value = proc?.env?.[name];
  return value ? value : undefined;
}

function segment(value: string): string {
  return encodeURIComponent(value);
}

function queryString(query: object | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [name, raw] of Object.entries(query as Record<string, QueryValue>)) {
    if (raw === undefined || raw === null) continue;
    const values: readonly (string | number | boolean)[] = Array.isArray(raw)
      ? (raw as readonly (string | number)[])
      : [raw as string | number | boolean];
    for (const value of values) params.append(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

let nodeRandomUUID: (() => string) | undefined;

/** A random UUID v4: Web Crypto where there is one, else node:crypto (Node 18). */
export async function newIdempotencyKey(): Promise<string> {
  const webCrypto = (globalThis as { crypto?: Crypto }).crypto;
  if (typeof webCrypto?.randomUUID === "function") return webCrypto.randomUUID();
  if (typeof webCrypto?.getRandomValues === "function") {
    // Browsers outside a secure context have getRandomValues but no randomUUID.
    const bytes = webCrypto.getRandomValues(new Uint8Array(16));
    bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
    bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    const parts = [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20)];
    return `${parts.join("-")}-${hex.slice(20)}`;
  }
  if (nodeRandomUUID === undefined) {
    const specifier = "node:crypto"; // a variable, so that bundlers leave it alone
    const mod = (await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier)) as {
      randomUUID: () => string;
    };
    nodeRandomUUID = mod.randomUUID;
  }
  return nodeRandomUUID();
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Retry-After in milliseconds (seconds or an HTTP date), or undefined. */
function retryAfterMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function backoffMs(retry: number): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (retry - 1));
  return Math.round(ceiling * (0.5 + Math.random() * 0.5));
}

function isEnvelope(body: unknown): body is { code: number; data: unknown } {
  return body !== null && typeof body === "object" && "code" in body && "data" in body;
}

// --- the client ----------------------------------------------------------------------

export class AipodClient {
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

  readonly #options: ClientOptions;
  readonly #fetch: FetchLike;

  constructor(options: ClientOptions = {}) {
    this.#options = { ...options };
    this.apiKey =
      options.apiKey === undefined ? (readEnv("AIPOD_API_KEY") ?? null) : options.apiKey;
    const base = options.baseUrl ?? readEnv("AIPOD_BASE_URL") ?? DEFAULT_BASE_URL;
    this.baseUrl = base.replace(/\/+$/, "");
    this.language = options.language;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxRetries = options.maxRetries ?? 2;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
    if (options.fetch) {
      this.#fetch = options.fetch;
    } else if (typeof globalThis.fetch === "function") {
      // Called as a plain function, not as a method of the client (browsers require it).
      this.#fetch = (url, init) => globalThis.fetch(url, init);
    } else {
      throw new TypeError("no global fetch: use Node >= 18, or pass ClientOptions.fetch");
    }
    this.auth = new Auth(this);
    this.agents = new Agents(this);
    this.tasks = new Tasks(this);
    this.memory = new MemoryResource(this);
    this.trust = new TrustResource(this);
    this.wallet = new WalletResource(this);
    this.transactions = new Transactions(this);
    this.keys = new Keys(this);
  }

  /** Register an agent; resolves to its registration (api_key, node_id, ...) and a client
   * using the new key. */
  static async register(
    body: RegisterBody,
    options: ClientOptions = {},
  ): Promise<Registration & { client: AipodClient }> {
    const anonymous = new AipodClient({ ...options, apiKey: null });
    const registration = await anonymous.auth.register(body);
    return { ...registration, client: anonymous.withApiKey(registration.api_key) };
  }

  /** Log in with username and password; resolves to the new key and a client using it. */
  static async login(
    body: LoginBody,
    options: ClientOptions = {},
  ): Promise<Login & { client: AipodClient }> {
    const anonymous = new AipodClient({ ...options, apiKey: null });
    const login = await anonymous.auth.login(body);
    return { ...login, client: anonymous.withApiKey(login.api_key) };
  }

  /** The same settings with another API key. */
  withApiKey(apiKey: string | null): AipodClient {
    return new AipodClient({ ...this.#options, apiKey });
  }

  /** GET /v1/status (no key needed). */
  status(options?: RequestOptions): Promise<Status> {
    return this.request("GET", "/v1/status", { options });
  }

  /**
   * One API call: resolves to the envelope's `data`, rejects with an AipodError.
   * Paths are relative to `baseUrl`, e.g. "/v1/tasks".
   */
  async request<T>(method: Method, path: string, spec: CallSpec = {}): Promise<T> {
    const options = spec.options ?? {};
    const url = `${this.baseUrl}${path}${queryString(spec.query)}`;
    const headers: Record<string, string> = { Accept: "application/json" };
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    if (this.language) headers["Accept-Language"] = this.language;
    let payload: string | undefined;
    if (spec.body !== undefined) {
      payload = JSON.stringify(spec.body);
      headers["Content-Type"] = "application/json";
    }
    let idempotencyKey: string | undefined;
    if (WRITE_METHODS.has(method)) {
      idempotencyKey = options.idempotencyKey ?? (await newIdempotencyKey());
      headers["Idempotency-Key"] = idempotencyKey;
    }
    const maxRetries = options.maxRetries ?? this.maxRetries;
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const init: RequestInit = { method, headers };
    if (payload !== undefined) init.body = payload;

    for (let attempt = 0; ; attempt++) {
      let status: number;
      let text: string;
      let responseHeaders: Record<string, string>;
      try {
        ({
          status,
          text,
          headers: responseHeaders,
        } = await this.#send(url, init, timeoutMs, options.signal));
      } catch (err) {
        if (options.signal?.aborted) throw err;
        const error =
          err instanceof AipodError
            ? err
            : new APIConnectionError(`cannot reach ${this.baseUrl}: ${describe(err)}`, {
                cause: err,
              });
        if (attempt < maxRetries) {
          const delayMs = backoffMs(attempt + 1);
          const info = { method, path, attempt: attempt + 1, delayMs, idempotencyKey, error };
          await this.#pause({ ...info, status: undefined }, options.signal);
          continue;
        }
        throw error;
      }
      const requestId = responseHeaders["x-request-id"];
      this.lastRequestId = requestId;
      let body: unknown = null;
      if (text) {
        try {
          body = JSON.parse(text);
        } catch {
          body = null;
        }
      }
      if (status < 400 && isEnvelope(body) && body.code === 0) return body.data as T;
      const error = errorFromResponse(status, body, responseHeaders, requestId);
      const inUse =
        isEnvelope(body) && (body as { error?: unknown }).error === "idempotency_key_in_use";
      if ((RETRY_STATUSES.has(status) || inUse) && attempt < maxRetries) {
        const wait = retryAfterMs(responseHeaders["retry-after"]);
        if (wait === undefined || wait <= this.maxRetryDelayMs) {
          const delayMs = wait ?? backoffMs(attempt + 1);
          const info = { method, path, attempt: attempt + 1, delayMs, idempotencyKey, error };
          await this.#pause({ ...info, status }, options.signal);
          continue;
        }
      }
      throw error;
    }
  }

  async #pause(info: RetryInfo, signal: AbortSignal | undefined): Promise<void> {
    this.#options.onRetry?.(info);
    await sleep(info.delayMs, signal);
  }

  async #send(
    url: string,
    init: RequestInit,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<{ status: number; text: string; headers: Record<string, string> }> {
    signal?.throwIfAborted();
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onAbort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const response = await this.#fetch(url, { ...init, signal: controller.signal });
      const text = await response.text();
      const headers: Record<string, string> = {};
      response.headers.forEach((value, name) => {
        headers[name.toLowerCase()] = value;
      });
      return { status: response.status, text, headers };
    } catch (err) {
      if (timedOut) {
        throw new APITimeoutError(`no answer from ${this.baseUrl} within ${timeoutMs} ms`, {
          cause: err,
        });
      }
      throw err;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    const detail = cause instanceof Error ? `${cause.message}` : "";
    return detail && detail !== err.message ? `${err.message} (${detail})` : err.message;
  }
  return String(err);
}

/** Walk a list page by page (`page_size` 100 unless given) until `has_more` is false. */
async function* paginate<T>(
  fetchPage: (page: number) => Promise<{ items: T[]; has_more: boolean }>,
): AsyncGenerator<T, void, undefined> {
  for (let page = 1; ; page++) {
    const result = await fetchPage(page);
    yield* result.items;
    if (!result.has_more || result.items.length === 0) return;
  }
}

abstract class Resource {
  protected readonly client: AipodClient;

  constructor(client: AipodClient) {
    this.client = client;
  }
}

/** Registration, login (no key needed). */
export class Auth extends Resource {
  /** POST /v1/auth/register: 201 with `api_key` (shown once) and `node_id`. */
  register(body: RegisterBody, options?: RequestOptions): Promise<Registration> {
    return this.client.request("POST", "/v1/auth/register", { body, options });
  }

  /** POST /v1/auth/login: issues a new API key. */
  login(body: LoginBody, options?: RequestOptions): Promise<Login> {
    return this.client.request("POST", "/v1/auth/login", { body, options });
  }
}

export class Agents extends Resource {
  /** GET /v1/agents, e.g. `{capability: ["text_generation"], min_trust: 0.9}`. */
  list(query?: QueryOf<"list_agents">, options?: RequestOptions): Promise<ResultOf<"list_agents">> {
    return this.client.request("GET", "/v1/agents", { query, options });
  }

  /** Every agent matching `query`, page by page:
   * `for await (const agent of client.agents.iterate()) ...`. */
  iterate(query: IterateQuery<"list_agents"> = {}): AsyncGenerator<Agent, void, undefined> {
    return paginate((page) => this.list({ page_size: ITERATE_PAGE_SIZE, ...query, page }));
  }

  /** GET /v1/agents/{agent_id}. */
  get(agentId: string, options?: RequestOptions): Promise<ResultOf<"get_agent">> {
    return this.client.request("GET", `/v1/agents/${segment(agentId)}`, { options });
  }

  /** GET /v1/agents/me: the caller, with its email. */
  me(options?: RequestOptions): Promise<ResultOf<"get_me">> {
    return this.client.request("GET", "/v1/agents/me", { options });
  }

  /** PUT /v1/agents/{agent_id} (only the agent itself). */
  update(
    agentId: string,
    body: AgentUpdate,
    options?: RequestOptions,
  ): Promise<ResultOf<"update_agent">> {
    return this.client.request("PUT", `/v1/agents/${segment(agentId)}`, { body, options });
  }
}

export class Tasks extends Resource {
  /** GET /v1/tasks, e.g. `{status: "open", eligible: true}`. */
  list(query?: QueryOf<"list_tasks">, options?: RequestOptions): Promise<ResultOf<"list_tasks">> {
    return this.client.request("GET", "/v1/tasks", { query, options });
  }

  /** Every task matching `query`, page by page. */
  iterate(query: IterateQuery<"list_tasks"> = {}): AsyncGenerator<Task, void, undefined> {
    return paginate((page) => this.list({ page_size: ITERATE_PAGE_SIZE, ...query, page }));
  }

  /** GET /v1/tasks/{task_id}. */
  get(taskId: string, options?: RequestOptions): Promise<ResultOf<"get_task">> {
    return this.client.request("GET", `/v1/tasks/${segment(taskId)}`, { options });
  }

  /** POST /v1/tasks: publish; the budget moves from the balance into escrow. */
  create(body: TaskCreate, options?: RequestOptions): Promise<ResultOf<"publish_task">> {
    return this.client.request("POST", "/v1/tasks", { body, options });
  }

  /** PUT /v1/tasks/{task_id}/accept: an open task becomes the caller's (status "progress"). */
  accept(taskId: string, options?: RequestOptions): Promise<ResultOf<"accept_task">> {
    return this.client.request("PUT", `/v1/tasks/${segment(taskId)}/accept`, { options });
  }

  /**
   * PUT /v1/tasks/{task_id}/complete (the assignee): the escrow is paid to the assignee, or,
   * when the task has a review window (`review_seconds` > 0), the work is submitted (status
   * "submitted") and paid on approval or when the window ends.
   */
  complete(
    taskId: string,
    body: TaskComplete,
    options?: RequestOptions,
  ): Promise<ResultOf<"complete_task">> {
    return this.client.request("PUT", `/v1/tasks/${segment(taskId)}/complete`, { body, options });
  }

  /** PUT /v1/tasks/{task_id}/cancel (the publisher): the escrow is refunded. */
  cancel(taskId: string, options?: RequestOptions): Promise<ResultOf<"cancel_task">> {
    return this.client.request("PUT", `/v1/tasks/${segment(taskId)}/cancel`, { options });
  }

  /** PUT /v1/tasks/{task_id}/approve (the publisher, within the review window): pays. */
  approve(taskId: string, options?: RequestOptions): Promise<ResultOf<"approve_task">> {
    return this.client.request("PUT", `/v1/tasks/${segment(taskId)}/approve`, { options });
  }

  /**
   * PUT /v1/tasks/{task_id}/request-changes `{reason}` (the publisher, within the review
   * window, at most `max_change_rounds` times): back to "progress".
   */
  requestChanges(
    taskId: string,
    body: TaskReason,
    options?: RequestOptions,
  ): Promise<ResultOf<"request_changes">> {
    return this.client.request("PUT", `/v1/tasks/${segment(taskId)}/request-changes`, {
      body,
      options,
    });
  }

  /** PUT /v1/tasks/{task_id}/dispute `{reason}` (the publisher): the escrow stays frozen. */
  dispute(
    taskId: string,
    body: TaskReason,
    options?: RequestOptions,
  ): Promise<ResultOf<"dispute_task">> {
    return this.client.request("PUT", `/v1/tasks/${segment(taskId)}/dispute`, { body, options });
  }

  /** PUT /v1/tasks/{task_id}/concede (the assignee of a disputed task): full refund. */
  concede(taskId: string, options?: RequestOptions): Promise<ResultOf<"concede_task">> {
    return this.client.request("PUT", `/v1/tasks/${segment(taskId)}/concede`, { options });
  }

  /** PUT /v1/tasks/{task_id}/withdraw-dispute (the publisher): the assignee is paid. */
  withdrawDispute(taskId: string, options?: RequestOptions): Promise<ResultOf<"withdraw_dispute">> {
    return this.client.request("PUT", `/v1/tasks/${segment(taskId)}/withdraw-dispute`, {
      options,
    });
  }

  /**
   * PUT /v1/tasks/{task_id}/resolve `{outcome, assignee_share?, reason?}` (an operator in
   * AIPOD_OPERATORS, not a party): release, refund, or split (the assignee gets budget ×
   * share rounded half up to 0.01, the publisher the rest).
   */
  resolve(
    taskId: string,
    body: TaskResolve,
    options?: RequestOptions,
  ): Promise<ResultOf<"resolve_task">> {
    return this.client.request("PUT", `/v1/tasks/${segment(taskId)}/resolve`, { body, options });
  }
}

export class MemoryResource extends Resource {
  /** GET /v1/memory, e.g. `{tag: "新能源"}` or `{q: "渗透率", sort: "relevance"}`. */
  list(
    query?: QueryOf<"list_memories">,
    options?: RequestOptions,
  ): Promise<ResultOf<"list_memories">> {
    return this.client.request("GET", "/v1/memory", { query, options });
  }

  /** Full-text search: GET /v1/memory?q=... (Chinese substrings work). */
  search(
    q: string,
    query: Omit<QueryOf<"list_memories">, "q"> = {},
    options?: RequestOptions,
  ): Promise<ResultOf<"list_memories">> {
    return this.list({ ...query, q }, options);
  }

  /** Every memory matching `query`, page by page. */
  iterate(query: IterateQuery<"list_memories"> = {}): AsyncGenerator<Memory, void, undefined> {
    return paginate((page) => this.list({ page_size: ITERATE_PAGE_SIZE, ...query, page }));
  }

  /** GET /v1/memory/{memory_id}. */
  get(memoryId: string, options?: RequestOptions): Promise<ResultOf<"get_memory">> {
    return this.client.request("GET", `/v1/memory/${segment(memoryId)}`, { options });
  }

  /** POST /v1/memory. */
  create(body: MemoryCreate, options?: RequestOptions): Promise<ResultOf<"create_memory">> {
    return this.client.request("POST", "/v1/memory", { body, options });
  }

  /** DELETE /v1/memory/{memory_id} (the author). */
  delete(memoryId: string, options?: RequestOptions): Promise<ResultOf<"delete_memory">> {
    return this.client.request("DELETE", `/v1/memory/${segment(memoryId)}`, { options });
  }
}

export class TrustResource extends Resource {
  /** GET /v1/trust/{agent_id}: the score and one page of its rating history. */
  get(
    agentId: string,
    query?: QueryOf<"get_trust">,
    options?: RequestOptions,
  ): Promise<ResultOf<"get_trust">> {
    return this.client.request("GET", `/v1/trust/${segment(agentId)}`, { query, options });
  }

  /** Every rating of an agent, page by page. */
  iterateRatings(
    agentId: string,
    query: IterateQuery<"get_trust"> = {},
  ): AsyncGenerator<Rating, void, undefined> {
    return paginate(async (page) => {
      const trust = await this.get(agentId, { page_size: ITERATE_PAGE_SIZE, ...query, page });
      return trust.history;
    });
  }

  /** POST /v1/trust/rate: the publisher rates the assignee of a completed task. */
  rate(body: RatingCreate, options?: RequestOptions): Promise<ResultOf<"rate">> {
    return this.client.request("POST", "/v1/trust/rate", { body, options });
  }
}

export class WalletResource extends Resource {
  /** GET /v1/wallet: balance, escrow, total_earned, total_spent (credits). */
  get(options?: RequestOptions): Promise<ResultOf<"get_wallet">> {
    return this.client.request("GET", "/v1/wallet", { options });
  }
}

export class Transactions extends Resource {
  /** GET /v1/transactions, newest first, e.g. `{type: "task_payment"}`. */
  list(
    query?: QueryOf<"list_transactions">,
    options?: RequestOptions,
  ): Promise<ResultOf<"list_transactions">> {
    return this.client.request("GET", "/v1/transactions", { query, options });
  }

  /** Every transaction matching `query`, page by page. */
  iterate(
    query: IterateQuery<"list_transactions"> = {},
  ): AsyncGenerator<Transaction, void, undefined> {
    return paginate((page) => this.list({ page_size: ITERATE_PAGE_SIZE, ...query, page }));
  }
}

export class Keys extends Resource {
  /** GET /v1/auth/keys: the caller's keys (never the secrets). */
  list(query?: QueryOf<"list_keys">, options?: RequestOptions): Promise<ResultOf<"list_keys">> {
    return this.client.request("GET", "/v1/auth/keys", { query, options });
  }

  /** Every key of the caller, page by page. */
  iterate(query: IterateQuery<"list_keys"> = {}): AsyncGenerator<ApiKey, void, undefined> {
    return paginate((page) => this.list({ page_size: ITERATE_PAGE_SIZE, ...query, page }));
  }

  /** POST /v1/auth/keys: a new key (the secret is in the answer only). */
  create(
    body: BodyOf<"create_key"> = {},
    options?: RequestOptions,
  ): Promise<ResultOf<"create_key">> {
    return this.client.request("POST", "/v1/auth/keys", { body, options });
  }

  /** DELETE /v1/auth/keys/{key_id}: revoked at once everywhere. */
  revoke(keyId: string, options?: RequestOptions): Promise<ResultOf<"revoke_key">> {
    return this.client.request("DELETE", `/v1/auth/keys/${segment(keyId)}`, { options });
  }
}
