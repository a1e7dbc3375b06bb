/** The unusual-activity flag (pure): today far above the key's own recent days. */
import { describe, expect, it } from "vitest";
import { unusualActivity, type DayTraffic } from "../../src/dashboard/unusual";

const days = (...counts: [number, number?][]): DayTraffic[] =>
  counts.map(([requests, refused = 0], i) => ({ at: `2026-11-${String(i + 1).padStart(2, "0")}`, requests, rejected: refused, denied: 0 }));

describe("unusualActivity", () => {
  it("flags traffic at three times the norm and above the floor; not a normal day, not a quiet key", () => {
    expect(unusualActivity(days([1000], [1000], [1000], [3100]), 3)?.traffic).toBe(true);
    expect(unusualActivity(days([1000], [1000], [1000], [2500]), 3)).toBeNull();
    expect(unusualActivity(days([10], [10], [10], [400]), 3)).toBeNull(); // under the floor
  });

  it("a key without history has no traffic norm yet; its refusals still count", () => {
    expect(unusualActivity(days([0], [0], [5000]), 1)).toBeNull();
    const refused = unusualActivity(days([0], [0], [0, 40]), 1);
    expect(refused).toMatchObject({ traffic: false, refusals: true });
    expect(refused!.reason).toContain("40 refused today (429, 401 or 403)");
  });
});
