/**
 * The Composite SDK client: events and reads through the edge gateway with one API key.
 *
 * The key is checked when the client is made — format and checksum (the gateway's own
 * `parseKey`), whitespace around it, a secret key in a browser, plain HTTP to a remote host — so
 * a bad deployment fails at start-up, with the code the gateway would have answered, before the
 * key has travelled anywhere. It is sent only as `Authorization: Bearer`, kept in a private
 * field (not shown by console.log or JSON.stringify), and never put in an error message.
 *
 * @example
 * ```ts
 * import { Composite } from "./sdk/src/index.ts";
 *
 * const composite = new Composite({ baseUrl: "http://127.0.0.1:8787" }); // key from COMPOSITE_API_KEY
 * await composite.track("signup", { plan: "pro" }, { userId: "u_123" });
 * ```
 */
import { isLoopback } from "../../src/http/loopback.ts";
import { parseKey, type KeyEnvironment, type KeyType } from "../../src/keys/format.ts";
import { CompositeError, errorFromResponse } from "./errors.ts";
import { DEFAULT_RETRY, retryDelay, type RetryPolicy } from "./retry.ts";

export interface CompositeOptions {
  /** The API key; default: the COMPOSITE_API_KEY environment variable. */
  apiKey?: string;
  /** The gateway's URL, e.g. `https://api.example.com` or `http://127.0.0.1:8787`; default: COMPOSITE_API_URL. */
  baseUrl?: string;
  /** Retries of 429/502/503/504 and network failures; `{ maxRetries: 0 }` turns them off. */
  retry?: Partial<RetryPolicy>;
  /** Per attempt; default 10 s. */
  timeoutMs?: number;
  /** A fetch to send with (tests, proxies, a service binding); default: the global fetch. */
  fetch?: (request: Request) => Promise<Response>;
  /**
   * A secret key in a browser is readable by anyone who opens the page, so the client refuses
   * it unless this is set (e.g. an internal tool behind a login), and then sends
   * `Composite-Browser-Access: true`, without which the gateway refuses it too. Use a public key instead.
   */
  dangerouslyAllowSecretKeyInBrowser?: boolean;
}

export type Properties = Record<string, unknown>;

export interface TrackEvent {
  event: string;
  properties?: Properties;
  userId?: string;
  anonymousId?: string;
  /** When it happened; default: when it was passed to the client. */
  timestamp?: Date;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export class Composite {
  readonly keyType: KeyType;
  readonly environment: KeyEnvironment;
  readonly #key: string;
  readonly #baseUrl: string;
  readonly #fetch: (request: Request) => Promise<Response>;
  readonly #retry: RetryPolicy;
  readonly #timeoutMs: number;
  /** Sent by a secret key allowed in a browser: the gateway refuses a secret key from a page otherwise (API.md §2). */
  readonly #browserAccess: boolean;

  constructor(options: CompositeOptions = {}) {
    const key = options.apiKey ?? environmentVariable("COMPOSITE_API_KEY");
    ({ type: this.keyType, environment: this.environment } = checkKey(key));
    if (this.keyType === "secret" && isBrowser() && options.dangerouslyAllowSecretKeyInBrowser !== true) {
      throw new CompositeError(
        "secret_key_in_browser",
        "secret_key_in_browser: a secret key (sk_) must stay on servers — anyone can read it from a web page. Use a public key (pk_) in browsers and apps.",
      );
    }
    this.#key = key as string;
    this.#browserAccess = this.keyType === "secret" && options.dangerouslyAllowSecretKeyInBrowser === true;
    this.#baseUrl = checkBaseUrl(options.baseUrl ?? environmentVariable("COMPOSITE_API_URL"));
    this.#fetch = options.fetch ?? ((request) => fetch(request));
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Sends one event (POST /v1/events). */
  async track(event: string, properties?: Properties, who: Pick<TrackEvent, "userId" | "anonymousId"> = {}): Promise<void> {
    await this.request("POST", "/v1/events", eventBody({ event, properties, ...who }));
  }

  /** Sends many events as one request (POST /v1/batch): one request against the rate limit. */
  async batch(events: readonly TrackEvent[]): Promise<void> {
    if (events.length === 0) throw new CompositeError("invalid_request", "invalid_request: a batch needs at least one event.");
    await this.request("POST", "/v1/batch", { batch: events.map(eventBody) });
  }

  /** Ties a user id to traits (POST /v1/identify). */
  async identify(userId: string, traits: Properties = {}): Promise<void> {
    if (typeof userId !== "string" || userId === "") throw new CompositeError("invalid_request", "invalid_request: identify needs a user id.");
    await this.request("POST", "/v1/identify", { user_id: userId, traits, timestamp: new Date().toISOString(), message_id: messageId() });
  }

  /**
   * Any route of the API (API.md §1) with this key; answers the parsed JSON (or text). Failed
   * answers throw CompositeError after the retries the policy allows.
   */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    if (!path.startsWith("/")) throw new CompositeError("invalid_request", `invalid_request: the path must start with "/" (got ${JSON.stringify(path)}).`);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    for (let retry = 0; ; retry++) {
      const outcome = await this.#attempt(method, path, payload);
      if (!(outcome instanceof CompositeError)) return outcome as T;
      const wait = retryDelay(outcome, retry, this.#retry);
      if (wait === null) throw outcome;
      await sleep(wait);
    }
  }

  /** One attempt: the parsed answer, or the error it stands for (not thrown, so the caller can retry). */
  async #attempt(method: string, path: string, payload: string | undefined): Promise<unknown> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#key}`, accept: "application/json" };
    if (payload !== undefined) headers["content-type"] = "application/json";
    if (this.#browserAccess) headers["composite-browser-access"] = "true";
    const request = new Request(this.#baseUrl + path, { method, headers, body: payload, signal: AbortSignal.timeout(this.#timeoutMs) });
    let response: Response;
    try {
      response = await this.#fetch(request);
    } catch (error) {
      return noAnswer(error, this.#timeoutMs);
    }
    if (!response.ok) return errorFromResponse(response);
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
}

function eventBody(event: TrackEvent): Record<string, unknown> {
  if (typeof event.event !== "string" || event.event === "") {
    throw new CompositeError("invalid_request", "invalid_request: every event needs a name (event: string).");
  }
  return {
    event: event.event,
    properties: event.properties ?? {},
    ...(event.userId === undefined ? {} : { user_id: event.userId }),
    ...(event.anonymousId === undefined ? {} : { anonymous_id: event.anonymousId }),
    timestamp: (event.timestamp ?? new Date()).toISOString(),
    // The same id on every retry of this send, so the origin can drop a duplicate (a 504 may have been processed).
    message_id: messageId(),
  };
}

function messageId(): string {
  return `msg_${crypto.randomUUID().replaceAll("-", "")}`;
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
  const parsed = parseKey(key);
  if (!parsed.ok) {
    throw new CompositeError("malformed_api_key", `malformed_api_key: this is not a Composite API key (bad ${parsed.reason}). Copy the key again from the dashboard.`);
  }
  return parsed;
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

function noAnswer(error: unknown, timeoutMs: number): CompositeError {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return new CompositeError("timeout", `timeout: no answer within ${timeoutMs} ms.`, { cause: error });
  }
  return new CompositeError("network_error", "network_error: the gateway could not be reached.", { cause: error });
}

function isBrowser(): boolean {
  const global = globalThis as { window?: unknown; document?: unknown };
  return typeof global.window === "object" && typeof global.document === "object";
}

function environmentVariable(name: string): string | undefined {
  const process = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return process?.env?.[name];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
