/**
 * One timer per request, for everything the request may wait on: the origin's answer (504 past
 * ORIGIN_TIMEOUT_MS) and a turn at its key's limiter (admission.ts). A timer is among the
 * costliest things a request does in workerd (≈50 µs of CPU, measured with `npm run bench`), so
 * there is one, started when the key is known, and raced — never an AbortController per fetch.
 * A pending timer also tells workerd that a request waiting on another request's RPC is alive.
 */
export const DEFAULT_TIMEOUT_MS = 30_000;

export const TIMED_OUT = Symbol("timed out");

export interface Deadline {
  ms: number;
  /** Resolves with TIMED_OUT when the time is up; never rejects. */
  reached: Promise<typeof TIMED_OUT>;
  /** Whether the time is up already. */
  passed: boolean;
}

export function startDeadline(configuredMs: string | undefined): Deadline {
  const ms = Number(configuredMs) || DEFAULT_TIMEOUT_MS;
  const deadline: Deadline = {
    ms,
    passed: false,
    reached: scheduler.wait(ms).then(() => {
      deadline.passed = true;
      return TIMED_OUT;
    }),
  };
  return deadline;
}

/** The work's result, or TIMED_OUT if the deadline comes first. */
export function within<T>(deadline: Deadline, work: Promise<T>): Promise<T | typeof TIMED_OUT> {
  return Promise.race([work, deadline.reached]);
}
