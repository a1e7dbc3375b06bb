/**
 * One timer per request, for everything the request may wait on: its key's limiter (a limiter
 * that does not answer in time counts as unreachable) and the origin's answer (504 past
 * ORIGIN_TIMEOUT_MS). A timer is among the costliest things a request does in workerd (≈40–50 µs
 * of CPU, measured with `npm run bench`), so there is one, started before the limiter call, and
 * raced — never an AbortController plus a timer per fetch.
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
