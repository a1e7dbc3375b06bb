/**
 * One HTTP attempt to the gateway with the key, and the pacing that keeps it under the key's
 * rate: every answer's `RateLimit` headers say whether the bucket has a token left; when it has
 * none, the next attempt waits for one instead of drawing a 429.
 */
import { CompositeError, errorFromResponse } from "./errors.ts";
import { waitForToken } from "./rate-limit.ts";

export interface TransportOptions {
  key: string;
  baseUrl: string;
  fetch: (request: Request) => Promise<Response>;
  timeoutMs: number;
  /** Sends Composite-Browser-Access: true (a secret key knowingly used in a browser). */
  browserAccess: boolean;
  /**
   * Longest wait for a token before an attempt. A longer one (an empty daily quota) is not
   * waited: the attempt goes, and its 429's Retry-After decides.
   */
  maxPaceMs: number;
}

export interface SendOptions {
  body?: string | Uint8Array;
  gzip?: boolean;
  /** Outlives the page (pagehide): no timeout signal, which would end with the page anyway. */
  keepalive?: boolean;
}

export class Transport {
  readonly #options: TransportOptions;
  /** Epoch ms before which no attempt starts (the bucket is empty until then). */
  #notBefore = 0;

  constructor(options: TransportOptions) {
    this.#options = options;
  }

  /** The answer when it is 2xx, else the error it stands for (returned, not thrown, so the caller can retry). */
  async send(method: string, path: string, options: SendOptions = {}): Promise<Response | CompositeError> {
    if (!options.keepalive) await this.#paced();
    const headers: Record<string, string> = { authorization: `Bearer ${this.#options.key}`, accept: "application/json" };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    if (options.gzip) headers["content-encoding"] = "gzip";
    if (this.#options.browserAccess) headers["composite-browser-access"] = "true";
    const request = new Request(this.#options.baseUrl + path, {
      method,
      headers,
      body: options.body as BodyInit | undefined,
      ...(options.keepalive ? { keepalive: true } : { signal: AbortSignal.timeout(this.#options.timeoutMs) }),
    });
    let response: Response;
    try {
      response = await this.#options.fetch(request);
    } catch (error) {
      return noAnswer(error, this.#options.timeoutMs);
    }
    this.#observe(response.headers);
    return response.ok ? response : errorFromResponse(response);
  }

  #observe(headers: Headers): void {
    const wait = waitForToken(headers.get("ratelimit"), headers.get("ratelimit-policy"));
    if (wait > 0 && wait <= this.#options.maxPaceMs) this.#notBefore = Date.now() + wait;
  }

  async #paced(): Promise<void> {
    const wait = this.#notBefore - Date.now();
    if (wait > 0) await sleep(wait);
  }
}

function noAnswer(error: unknown, timeoutMs: number): CompositeError {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return new CompositeError("timeout", `timeout: no answer within ${timeoutMs} ms.`, { cause: error });
  }
  return new CompositeError("network_error", "network_error: the gateway could not be reached.", { cause: error });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
