/**
 * What a request carries through the app besides its bindings: the Hono context variables, and
 * the types several layers share (an admitted caller, a dashboard manager). Types only, below the
 * routes and the gateway that set them, so nothing here imports upward.
 */
import type { Env } from "./config";
import type { KeyFacts } from "./keys/key-index";
import type { RateSnapshot } from "./limiter/headers";
import type { RouteRule } from "./policy/routes";

/** The request may go on: who it is, what the key may do, and its limits for the headers. */
export interface Admission {
  route: RouteRule;
  facts: KeyFacts;
  scopes: readonly string[];
  rate: RateSnapshot | null;
}

/** Who manages keys: the admitted API key, or the key a dashboard session was opened with. */
export type Manager = Pick<Admission, "facts" | "scopes">;

/** The signed-in key as the dashboard's pages show it. */
export interface Viewer {
  display: string;
  projectId: string;
  environment: string;
  canChange: boolean;
  /** The signed-in key's own bounds: a key it rolls may not outlive or out-limit it (what is offered). */
  expiresAt: string | null;
  limits: { rate: number; burst: number; daily: number };
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
  /** The request presents a secret (sk_) key: its answer carries no CORS headers unless opted in. */
  secretKey?: true;
}

export type AppEnv = { Bindings: Env; Variables: Variables };
