/** The last hour minute by minute, derived from a key's day totals (pure). */
import { describe, expect, it } from "vitest";
import { emptyTally, KEEP_MINUTES, MINUTE_MS, minuteLabel, minutesFlushed, minutesToFlush, tallyTotals } from "../../src/limiter/minute-tally";

const T0 = Date.parse("2026-12-02T10:00:00Z");
const DAY = "2026-12-02";

describe("tallyTotals", () => {
  it("puts each change of the day totals into the minute it was counted in", () => {
    const tally = emptyTally();
    tallyTotals(tally, DAY, DAY, { requests: 3, rejected: 0 }, T0 + 5_000);
    tallyTotals(tally, DAY, DAY, { requests: 5, rejected: 1, denied: 2 }, T0 + 30_000);
    tallyTotals(tally, DAY, DAY, { requests: 9, rejected: 1, denied: 2 }, T0 + MINUTE_MS + 1);
    expect(minutesToFlush(tally)).toEqual([
      { minute: T0, requests: 5, rejected: 1, denied: 2 },
      { minute: T0 + MINUTE_MS, requests: 4, rejected: 0, denied: 0 },
    ]);
    expect(minuteLabel(T0 + MINUTE_MS)).toBe("2026-12-02T10:01");
  });

  it("unchanged totals add nothing; another day's totals (a late report) are not the last hour's", () => {
    const tally = emptyTally();
    tallyTotals(tally, DAY, DAY, { requests: 2, rejected: 0 }, T0);
    tallyTotals(tally, DAY, DAY, { requests: 2, rejected: 0 }, T0 + 1);
    tallyTotals(tally, "2026-12-01", DAY, { requests: 50, rejected: 0 }, T0 + 2);
    expect(minutesToFlush(tally)).toEqual([{ minute: T0, requests: 2, rejected: 0, denied: 0 }]);
  });

  it("an admission given back leaves the minute it was counted in", () => {
    const tally = emptyTally();
    tallyTotals(tally, DAY, DAY, { requests: 3, rejected: 0 }, T0);
    tallyTotals(tally, DAY, DAY, { requests: 2, rejected: 0 }, T0 + 10);
    tallyTotals(tally, DAY, DAY, { requests: 3, rejected: 0 }, T0 + MINUTE_MS);
    tallyTotals(tally, DAY, DAY, { requests: 2, rejected: 0 }, T0 + 2 * MINUTE_MS); // given back a minute later: no minute below zero
    expect(minutesToFlush(tally)).toEqual([
      { minute: T0, requests: 2, rejected: 0, denied: 0 },
      { minute: T0 + MINUTE_MS, requests: 1, rejected: 0, denied: 0 },
      { minute: T0 + 2 * MINUTE_MS, requests: 0, rejected: 0, denied: 0 },
    ]);
  });

  it("a new day starts from zero", () => {
    const tally = emptyTally();
    const midnight = Date.parse("2026-12-03T00:00:00Z");
    tallyTotals(tally, DAY, DAY, { requests: 100, rejected: 0 }, midnight - 1_000);
    tallyTotals(tally, "2026-12-03", "2026-12-03", { requests: 3, rejected: 0 }, midnight + 1_000);
    expect(minutesToFlush(tally).at(-1)).toEqual({ minute: midnight, requests: 3, rejected: 0, denied: 0 });
  });

  it("keeps the last hour only, and a minute counted on while its flush was on the way stays unflushed", () => {
    const tally = emptyTally();
    tallyTotals(tally, DAY, DAY, { requests: 1, rejected: 0 }, T0);
    const sent = minutesToFlush(tally);
    tallyTotals(tally, DAY, DAY, { requests: 2, rejected: 0 }, T0 + 10);
    minutesFlushed(tally, sent);
    expect(minutesToFlush(tally)).toEqual([{ minute: T0, requests: 2, rejected: 0, denied: 0 }]);
    minutesFlushed(tally, minutesToFlush(tally));
    expect(minutesToFlush(tally)).toEqual([]);
    tallyTotals(tally, DAY, DAY, { requests: 3, rejected: 0 }, T0 + KEEP_MINUTES * MINUTE_MS);
    expect(Object.keys(tally.minutes).map(Number)).toEqual([T0 + KEEP_MINUTES * MINUTE_MS]);
  });
});
