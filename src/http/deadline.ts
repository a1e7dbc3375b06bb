/**
 * One timer per request, for everything the request may wait on: its key's limiter (a limiter
 * that does not answer in time counts as unreachable) and the origin's answer (504 past
 * ORIGIN_TIMEOUT_MS). One timer, started before the limiter call and raced, rather than an
 * AbortController and a timer per fetch: the first version did that and cost ≈ 85 µs more per
 * request. The single timer itself is cheap (≈ 5 k of ≈ 1,600 k instructions per request,
 * `BENCH_PROFILE=callgrind npm run bench`).
 */
export const TIMED_OUT = Symbol("timed out");

export interface Deadline {
  ms: number;
  /** Epoch ms when the time is up. */
  endsAt: number;
  /** Resolves with TIMED_OUT when the time is up; never rejects. */
  reached: Promise<typeof TIMED_OUT>;
  /** Whether the time is up already. */
  passed: boolean;
}

/** ORIGIN_TIMEOUT_MS (config.ts) from now. */
export function startDeadline(ms: number): Deadline {
  const deadline: Deadline = {
    ms,
    endsAt: Date.now() + ms,
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
