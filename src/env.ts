import type { Viewer } from "./dashboard/pages";
import type { Admission } from "./gateway";
import type { FailedAuthGuard } from "./limiter/failed-auth";
import type { KeyLimiter } from "./limiter/key-limiter";
import type { Manager } from "./manage/api/caller";

/** Bindings, vars and secrets of the gateway Worker (see wrangler.jsonc and README "Configure"). */
export interface Env {
  KEYS: KVNamespace;
  DB: D1Database;
  KEY_LIMITER: DurableObjectNamespace<KeyLimiter>;
  FAILED_AUTH: DurableObjectNamespace<FailedAuthGuard>;
  /** Optional service binding to the origin; wins over ORIGIN_URL when both are set. */
  ORIGIN?: Fetcher;
  ORIGIN_URL?: string;
  ORIGIN_TIMEOUT_MS?: string;
  MAX_BODY_BYTES?: string;
  /** Route classes (routes.ts) that go through when the KeyLimiter cannot be reached; default "ingest". */
  LIMITER_FAIL_OPEN?: string;
  /** Failed authentications per client IP and window before 429 too_many_failed_attempts. */
  FAILED_AUTH_LIMIT?: string;
  FAILED_AUTH_WINDOW_S?: string;
  /** Secret: keys are stored as HMAC-SHA-256(KEY_HASH_SECRET, key). Changing it invalidates every key. */
  KEY_HASH_SECRET: string;
  /** Secret shared with the origin, which verifies X-Composite-Signature with it. */
  ORIGIN_SIGNING_SECRET: string;
  /** Secret for /_operator/*; when unset the operator API refuses every call. */
  OPERATOR_TOKEN?: string;
}

/** Per-request values the middleware and handlers share (read by the request log). */
export interface Variables {
  requestId: string;
  /** Set for the gateway's own API once the caller's key is admitted. */
  admission?: Admission;
  /** Set by the dashboard once a session's key is checked. */
  manager?: Manager;
  viewer?: Viewer;
  keyId?: string;
  projectId?: string;
  route?: string;
  errorCode?: string;
}

export type AppEnv = { Bindings: Env; Variables: Variables };
