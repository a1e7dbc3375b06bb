// The dashboard serves uPlot from a generated module (scripts/vendor-uplot.mjs): it must be
// exactly the pinned package's files, so a bump of uplot in package.json cannot leave it behind.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { VENDORED, vendoredUplot } from "../scripts/vendor-uplot.mjs";

describe("src/dashboard/vendor/uplot.ts", () => {
  it("is uPlot's minified script and stylesheet of the version package.json pins (else: node scripts/vendor-uplot.mjs)", () => {
    const pinned = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).dependencies.uplot;
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/); // exact, not a range
    const vendored = readFileSync(VENDORED, "utf8");
    expect(vendored).toContain(`from uplot ${pinned} `);
    expect(vendored === vendoredUplot(), "stale: run node scripts/vendor-uplot.mjs").toBe(true);
  });
});
