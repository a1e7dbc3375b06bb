/**
 * The Composite SDK client: events through the edge gateway with one API key, queued and sent in
 * batches (POST /v1/batch), and any other route of the API one call at a time.
 *
 * The key is checked when the client is made — format and checksum (the gateway's own
 * `parseKey`), whitespace around it, a secret key in a browser, plain HTTP to a remote host — so
 * a bad deployment fails at start-up, with the code the gateway would have answered, before the
 * key has travelled anywhere. It is sent only as `Authorization: Bearer`, kept in a private
 * field (not shown by console.log or JSON.stringify), and never put in an error message.
 *
 * @example
 * ```ts
 * import { Composite } from "@composite/sdk";
 *
 * const composite = new Composite({ baseUrl: "http://127.0.0.1:8787" }); // key from COMPOSITE_API_KEY
 * composite.track("signup", { plan: "pro" }, { userId: "u_123" });
 * await composite.close(); // delivers what is queued
 * ```
 */
import { isLoopback } from "../../src/http/loopback.ts";
import { parseKey } from "../../src/keys/format.ts";
import { gzipBody } from "./compress.ts";
import { CompositeError } from "./errors.ts";
import { onPageHide } from "./page-hide.ts";
import { EventQueue, type EventPayload, type QueueOptions } from "./queue.ts";
import { DEFAULT_RETRY, retryDelay, type RetryPolicy } from "./retry.ts";
import { sleep, Transport } from "./transport.ts";

export type KeyType = "public" | "secret";
export type KeyEnvironment = "test" | "live";

export interface CompositeOptions extends Partial<QueueOptions> {
  /** The API key; default: the COMPOSITE_API_KEY environment variable. */
  apiKey?: string;
  /** The gateway's URL, e.g. `https://api.example.com` or `http://127.0.0.1:8787`; default: COMPOSITE_API_URL. */
  baseUrl?: string;
  /** Retries of 429, 5xx and network failures; `{ maxRetries: 0 }` turns them off. */
  retry?: Partial<RetryPolicy>;
  /** Per attempt; default 10 s. */
  timeoutMs?: number;
  /** A fetch to send with (tests, proxies, a service binding); default: the global fetch. */
  fetch?: (request: Request) => Promise<Response>;
  /** Gzip batches (Content-Encoding: gzip) where CompressionStream exists; default true. */
  compress?: boolean;
  /**
   * Events that were not delivered and will not be retried: refused by the gateway (a 4xx other
   * than 429), retries used up, a Retry-After over `retry.maxRetryAfterMs`, the queue full, or
   * the client closed. Default: a console warning (never with the key).
   */
  onError?: (error: CompositeError, events: readonly EventPayload[]) => void;
  /**
   * A secret key in a browser is readable by anyone who opens the page, so the client refuses
   * it unless this is set (e.g. an internal tool behind a login), and then sends
   * `Composite-Browser-Access: true`, without which the gateway refuses it too. Use a public key instead.
   */
  dangerouslyAllowSecretKeyInBrowser?: boolean;
}

export type Properties = Record<string, unknown>;

/** Who did it: a known user, an anonymous visitor, or both; and when (default: now). */
export interface EventOptions {
  userId?: string;
  anonymousId?: string;
  timestamp?: Date;
}

export const DEFAULT_QUEUE: QueueOptions = {
  flushAt: 20,
  flushInterval: 10_000,
  maxQueueSize: 1_000,
  // Half the gateway's 1 MiB body limit (which holds for the decompressed body too).
  maxBatchBytes: 512 * 1024,
  maxBatchEvents: 500,
};

const DEFAULT_TIMEOUT_MS = 10_000;
/**
 * Browsers give keepalive requests 64 KiB of body in all, across every keepalive request in
 * flight from the page; the rest is refused. A little stays free for other scripts' beacons.
 */
export const KEEPALIVE_BUDGET_BYTES = 60 * 1024;

export class Composite {
  readonly keyType: KeyType;
  readonly environment: KeyEnvironment;
  readonly #transport: Transport;
  readonly #retry: RetryPolicy;
  readonly #queue: EventQueue;
  readonly #compress: boolean;
  readonly #onError: (error: CompositeError, events: readonly EventPayload[]) => void;
  readonly #stopPageHide: () => void;

  constructor(options: CompositeOptions = {}) {
    const key = options.apiKey ?? environmentVariable("COMPOSITE_API_KEY");
    ({ type: this.keyType, environment: this.environment } = checkKey(key));
    if (this.keyType === "secret" && isBrowser() && options.dangerouslyAllowSecretKeyInBrowser !== true) {
      throw new CompositeError(
        "secret_key_in_browser",
        "secret_key_in_browser: a secret key (sk_) must stay on servers — anyone can read it from a web page. Use a public key (pk_) in browsers and apps.",
      );
    }
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#transport = new Transport({
      key: key as string,
      baseUrl: checkBaseUrl(options.baseUrl ?? environmentVariable("COMPOSITE_API_URL")),
      fetch: options.fetch ?? ((request) => fetch(request)),
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      browserAccess: this.keyType === "secret" && options.dangerouslyAllowSecretKeyInBrowser === true,
      maxPaceMs: this.#retry.maxDelayMs,
    });
    const queue = checkQueueOptions({
      flushAt: options.flushAt ?? DEFAULT_QUEUE.flushAt,
      flushInterval: options.flushInterval ?? DEFAULT_QUEUE.flushInterval,
      maxQueueSize: options.maxQueueSize ?? DEFAULT_QUEUE.maxQueueSize,
      maxBatchBytes: options.maxBatchBytes ?? DEFAULT_QUEUE.maxBatchBytes,
      maxBatchEvents: options.maxBatchEvents ?? DEFAULT_QUEUE.maxBatchEvents,
    });
    this.#compress = options.compress ?? true;
    this.#onError = options.onError ?? ((error, events) => console.warn(`composite: ${events.length} event(s) not sent: ${error.message}`));
    this.#queue = new EventQueue(queue, (batch) => this.#deliver(batch), (error, events) => this.#report(error, events));
    // Public keys only: that is what a page holds (a secret key there is the exception that opts in).
    this.#stopPageHide = this.keyType === "public" ? onPageHide(() => this.#sendBeforeUnload()) : () => {};
  }

  /** Queues an event (sent in a batch by POST /v1/batch). */
  track(event: string, properties: Properties = {}, who: EventOptions = {}): void {
    if (typeof event !== "string" || event === "") throw new CompositeError("invalid_request", "invalid_request: every event needs a name (event: string).");
    this.#queue.enqueue(payload("track", { event, properties }, who));
  }

  /** Queues the traits of a user (an `identify` event in the batch). */
  identify(userId: string, traits: Properties = {}, who: Omit<EventOptions, "userId"> = {}): void {
    if (typeof userId !== "string" || userId === "") throw new CompositeError("invalid_request", "invalid_request: identify needs a user id.");
    this.#queue.enqueue(payload("identify", { traits }, { ...who, userId }));
  }

  /** Queues a page view; `name` defaults to none, `properties` might hold path, url, referrer. */
  page(name?: string, properties: Properties = {}, who: EventOptions = {}): void {
    if (name !== undefined && typeof name !== "string") throw new CompositeError("invalid_request", "invalid_request: a page name must be a string.");
    this.#queue.enqueue(payload("page", { ...(name === undefined ? {} : { name }), properties }, who));
  }

  /** Sends everything queued; resolves once all of it was delivered or reported through onError. Never rejects. */
  flush(): Promise<void> {
    return this.#queue.flush();
  }

  /** flush(), then refuses further events (reported as `client_closed`) and stops listening for page hide. */
  async close(): Promise<void> {
    this.#stopPageHide();
    await this.#queue.close();
  }

  /** Events waiting to be sent. */
  get queued(): number {
    return this.#queue.size;
  }

  /** Events dropped (queue full, too large, after close), each reported through onError. */
  get dropped(): number {
    return this.#queue.dropped;
  }

  /**
   * Any route of the API (API.md §1) with this key, at once; answers the parsed JSON (or text).
   * Failed answers throw CompositeError after the retries the policy allows.
   */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    if (!path.startsWith("/")) throw new CompositeError("invalid_request", `invalid_request: the path must start with "/" (got ${JSON.stringify(path)}).`);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    for (let retry = 0; ; retry++) {
      const outcome = await this.#transport.send(method, path, { body: payload });
      if (!(outcome instanceof CompositeError)) {
        const value = await parsed(outcome);
        if (value instanceof CompositeError) throw value; // a 2xx is final: never sent again
        return value as T;
      }
      const wait = retryDelay(outcome, retry, this.#retry);
      if (wait === null) throw outcome;
      await sleep(wait);
    }
  }

  /**
   * One batch, retried until delivered or given up on. A 2xx is final: a batch the gateway
   * accepted is never sent again. A 413 splits the batch in two. Never rejects.
   */
  async #deliver(batch: EventPayload[]): Promise<void> {
    try {
      const json = new TextEncoder().encode(JSON.stringify({ batch, sent_at: new Date().toISOString() }));
      const gzipped = this.#compress ? await gzipBody(json) : null;
      for (let retry = 0; ; retry++) {
        const outcome = await this.#transport.send("POST", "/v1/batch", { body: gzipped ?? json, gzip: gzipped !== null });
        if (!(outcome instanceof CompositeError)) {
          await outcome.body?.cancel();
          return;
        }
        if (outcome.status === 413 && batch.length > 1) {
          const half = Math.ceil(batch.length / 2);
          await this.#deliver(batch.slice(0, half));
          await this.#deliver(batch.slice(half));
          return;
        }
        const wait = retryDelay(outcome, retry, this.#retry);
        if (wait === null) return this.#report(outcome, batch);
        await sleep(wait);
      }
    } catch (error) {
      this.#report(new CompositeError("internal_error", "internal_error: the batch could not be prepared.", { cause: error }), batch);
    }
  }

  /** The page is going away: what fits the keepalive budget goes now, uncompressed (no time to wait for a compressor), unretried. */
  #sendBeforeUnload(): void {
    for (const batch of this.#queue.takeForUnload(KEEPALIVE_BUDGET_BYTES)) {
      const body = JSON.stringify({ batch, sent_at: new Date().toISOString() });
      void this.#transport.send("POST", "/v1/batch", { body, keepalive: true }).then((outcome) => {
        if (outcome instanceof CompositeError) this.#report(outcome, batch);
        else void outcome.body?.cancel();
      });
    }
  }

  #report(error: CompositeError, events: readonly EventPayload[]): void {
    try {
      this.#onError(error, events);
    } catch {
      // A throwing handler must not stop the queue.
    }
  }
}

function payload(type: "track" | "identify" | "page", fields: Record<string, unknown>, who: EventOptions): EventPayload {
  return {
    type,
    ...fields,
    ...(who.userId === undefined ? {} : { user_id: who.userId }),
    ...(who.anonymousId === undefined ? {} : { anonymous_id: who.anonymousId }),
    timestamp: (who.timestamp ?? new Date()).toISOString(),
    // The same id on every retry of this event, so the origin can drop a duplicate (a 5xx or a lost answer may have been processed).
    message_id: crypto.randomUUID(),
  };
}

async function parsed(response: Response): Promise<unknown> {
  if (!response.headers.get("content-type")?.includes("json")) return response.text();
  const requestId = response.headers.get("x-request-id") ?? undefined;
  return response.json().catch(
    (error: unknown) =>
      new CompositeError("invalid_response", `invalid_response: the API answered ${response.status} with a JSON content type but a body that is not JSON.`, {
        status: response.status,
        requestId,
        cause: error,
      }),
  );
}

function checkQueueOptions(options: QueueOptions): QueueOptions {
  for (const [name, value] of Object.entries(options)) {
    if (!Number.isInteger(value) || value < (name === "flushInterval" ? 0 : 1)) {
      throw new CompositeError("invalid_request", `invalid_request: ${name} must be a whole number${name === "flushInterval" ? " of milliseconds" : " above 0"} (got ${String(value)}).`);
    }
  }
  return options;
}

/** The gateway's own checks (API.md §2), made before the key is sent anywhere. */
function checkKey(key: string | undefined): { type: KeyType; environment: KeyEnvironment } {
  if (key === undefined || key === "") {
    throw new CompositeError("missing_api_key", "missing_api_key: no API key. Pass { apiKey } or set the COMPOSITE_API_KEY environment variable.");
  }
  if (typeof key !== "string") throw new CompositeError("missing_api_key", "missing_api_key: apiKey must be a string.");
  if (key.trim() !== key) {
    throw new CompositeError(
      "api_key_whitespace",
      "api_key_whitespace: the API key has whitespace or a line break around it. Trim it where you read it (often the environment variable or a secrets file).",
    );
  }
  const parsedKey = parseKey(key);
  if (!parsedKey.ok) {
    throw new CompositeError("malformed_api_key", `malformed_api_key: this is not a Composite API key (bad ${parsedKey.reason}). Copy the key again from the dashboard.`);
  }
  return parsedKey;
}

function checkBaseUrl(baseUrl: string | undefined): string {
  if (baseUrl === undefined || baseUrl === "") {
    throw new CompositeError("invalid_request", "invalid_request: no gateway URL. Pass { baseUrl } or set COMPOSITE_API_URL (e.g. http://127.0.0.1:8787 for npm run dev).");
  }
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new CompositeError("invalid_request", `invalid_request: baseUrl is not a URL (${JSON.stringify(baseUrl)}).`);
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopback(url.hostname))) {
    throw new CompositeError("https_required", `https_required: use https:// for ${url.host} — an API key must not travel over plain HTTP.`);
  }
  if (url.search !== "" || url.hash !== "") throw new CompositeError("invalid_request", "invalid_request: baseUrl must not have a query or fragment.");
  return url.href.replace(/\/+$/, "");
}

function isBrowser(): boolean {
  const global = globalThis as { window?: unknown; document?: unknown };
  return typeof global.window === "object" && typeof global.document === "object";
}

function environmentVariable(name: string): string | undefined {
  const process = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return process?.env?.[name];
}
