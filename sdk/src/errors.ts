/**
 * One error type for everything the SDK refuses or the gateway answers: `code` is the gateway's
 * problem+json code (API.md §2) or the same code found before sending (a malformed key), so one
 * `switch (error.code)` handles both. No message ever contains the key.
 */
export class CompositeError extends Error {
  override readonly name = "CompositeError";
  /** The gateway's code (`rate_limited`, `revoked_api_key`, …), or `http_<status>` for an origin's own error. */
  readonly code: string;
  /** HTTP status; undefined when nothing was answered (refused before sending, network down). */
  readonly status: number | undefined;
  /** The gateway's request id: quote it to support. */
  readonly requestId: string | undefined;
  /** Seconds until a retry could succeed (Retry-After), when the gateway said so. */
  readonly retryAfter: number | undefined;

  constructor(code: string, message: string, details: { status?: number; requestId?: string; retryAfter?: number; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.status = details.status;
    this.requestId = details.requestId;
    this.retryAfter = details.retryAfter;
  }
}

interface Problem {
  code?: unknown;
  detail?: unknown;
  title?: unknown;
  request_id?: unknown;
}

/** The error a non-2xx answer stands for: the gateway's problem+json, or the origin's own status. */
export async function errorFromResponse(response: Response): Promise<CompositeError> {
  const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
  const requestId = response.headers.get("x-request-id") ?? undefined;
  let problem: Problem = {};
  if (response.headers.get("content-type")?.startsWith("application/problem+json")) {
    problem = ((await response.json().catch(() => ({}))) ?? {}) as Problem;
  } else {
    await response.body?.cancel();
  }
  const code = typeof problem.code === "string" ? problem.code : `http_${response.status}`;
  const detail = typeof problem.detail === "string" ? problem.detail : `The API answered ${response.status} ${response.statusText}.`;
  return new CompositeError(code, `${code}: ${detail}`, {
    status: response.status,
    requestId: typeof problem.request_id === "string" ? problem.request_id : requestId,
    retryAfter,
  });
}

/** Retry-After as whole seconds (API.md §3 sends seconds); an HTTP date or garbage counts as absent. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}
