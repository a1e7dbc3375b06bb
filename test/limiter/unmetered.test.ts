/**
 * The isolate's record of requests let through unmetered (src/limiter/unmetered.ts): a report is
 * sent again exactly as it was until counted, later requests go into a new one, days stay apart,
 * and one sender per key.
 */
import { describe, expect, it } from "vitest";
import { claimSender, MAX_UNMETERED_KEYS, nextReport, noteUnmetered, reportCounted, senderDone, unmeteredRequests, withdrawUnmetered } from "../../src/limiter/unmetered";

const NOON = Date.parse("2026-12-02T12:00:00Z");

describe("unmetered reports", () => {
  it("requests join the open report; once sent it is sealed and sent again unchanged, with the same id", () => {
    const key = "key_unmetered_a";
    noteUnmetered(key, NOON);
    noteUnmetered(key, NOON + 5);
    const first = nextReport(key)!;
    expect(first).toMatchObject({ requests: 2, at: NOON + 5, day: "2026-12-02", sealed: true });
    noteUnmetered(key, NOON + 10); // after the send: a new report
    const again = nextReport(key)!;
    expect(again).toBe(first);
    expect(again.requests).toBe(2);
    expect(unmeteredRequests(key)).toBe(3);
    reportCounted(key, first);
    const second = nextReport(key)!;
    expect(second.id).not.toBe(first.id);
    expect(second.requests).toBe(1);
    reportCounted(key, second);
    expect(nextReport(key)).toBeUndefined();
    expect(unmeteredRequests(key)).toBe(0);
  });

  it("a request counted after all is withdrawn from its day's unsent report, never from one sent", () => {
    const key = "key_unmetered_withdrawn";
    noteUnmetered(key, NOON);
    const sent = nextReport(key)!;
    expect(withdrawUnmetered(key, NOON), "the only report is on its way").toBe(false);
    expect(sent.requests).toBe(1);
    noteUnmetered(key, NOON + 1);
    noteUnmetered(key, NOON + 2);
    expect(withdrawUnmetered(key, NOON + 1)).toBe(true);
    expect(unmeteredRequests(key)).toBe(2);
    expect(withdrawUnmetered(key, NOON + 2)).toBe(true);
    expect(withdrawUnmetered(key, NOON + 2 + 24 * 3_600_000), "no report of that day").toBe(false);
    reportCounted(key, sent);
    expect(nextReport(key), "the emptied report is gone").toBeUndefined();
    expect(unmeteredRequests(key)).toBe(0);
  });

  it("a new UTC day starts a new report", () => {
    const key = "key_unmetered_b";
    const midnight = Date.parse("2026-12-03T00:00:00Z");
    noteUnmetered(key, midnight - 1);
    noteUnmetered(key, midnight);
    const first = nextReport(key)!;
    expect(first).toMatchObject({ requests: 1, day: "2026-12-02" });
    reportCounted(key, first);
    expect(nextReport(key)).toMatchObject({ requests: 1, day: "2026-12-03" });
  });

  it("one sender per key at a time", () => {
    expect(claimSender("key_unmetered_c")).toBe(true);
    expect(claimSender("key_unmetered_c")).toBe(false);
    expect(claimSender("key_unmetered_d")).toBe(true);
    senderDone("key_unmetered_c");
    expect(claimSender("key_unmetered_c")).toBe(true);
  });

  it(`keeps at most ${MAX_UNMETERED_KEYS} keys' uncounted requests: past it a new key's request is not taken (it must not go through), known keys' still are`, () => {
    const keys = Array.from({ length: MAX_UNMETERED_KEYS }, (_, i) => `key_unmetered_full_${i}`);
    // Other tests' keys may still be held in this module: fill up to the bound, whatever is there.
    let taken = 0;
    for (const key of keys) if (noteUnmetered(key, NOON)) taken++;
    expect(taken).toBeGreaterThan(0);
    expect(noteUnmetered("key_unmetered_one_too_many", NOON)).toBe(false);
    expect(unmeteredRequests("key_unmetered_one_too_many")).toBe(0);
    const known = keys[taken - 1]!;
    expect(noteUnmetered(known, NOON + 1)).toBe(true);
    expect(unmeteredRequests(known)).toBe(2);
    // Once a key's reports are counted, its place is free again.
    reportCounted(known, nextReport(known)!);
    expect(noteUnmetered("key_unmetered_one_too_many", NOON)).toBe(true);
    for (const key of keys) for (let report = nextReport(key); report !== undefined; report = nextReport(key)) reportCounted(key, report);
  });
});
