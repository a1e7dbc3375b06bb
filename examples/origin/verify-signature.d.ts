/** Types of verify-signature.js, for origins written in TypeScript (and this project's tests). */

export interface CompositeIdentity {
  keyId: string;
  projectId: string;
  keyType: string;
  environment: string;
  scopes: string[];
  requestId: string;
  /** Epoch seconds, as signed. */
  timestamp: number;
}

export type RefusalReason =
  | "missing_signature"
  | "malformed_signature"
  | "malformed_timestamp"
  | "bad_signature"
  | "expired_timestamp"
  | "future_timestamp"
  | "replayed_request";

export type VerifyResult = { ok: true; identity: CompositeIdentity } | { ok: false; reason: RefusalReason };

/** A fetch Request, Node's IncomingMessage, or anything shaped like either. */
export interface VerifiableRequest {
  method?: string;
  /** An absolute URL, or the path and query as received (Node's req.url). */
  url?: string;
  headers: { get(name: string): string | null } | Record<string, string | string[] | undefined>;
}

export interface VerifierOptions {
  secret: string;
  maxAgeSeconds?: number;
  maxAheadSeconds?: number;
  replayCapacity?: number;
  now?: () => number;
  seen?: (requestId: string, timestamp: number) => boolean | Promise<boolean>;
}

export function createSignatureVerifier(options: VerifierOptions): (request: VerifiableRequest) => Promise<VerifyResult>;

export function memoryReplayGuard(capacity: number, maxAge: number, now?: () => number): (requestId: string, timestamp: number) => boolean;
