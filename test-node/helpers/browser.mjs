// Debian's chromium for the node tests, driven with playwright-core (TOOLCHAIN.md "Browsers"). CI
// installs it (.ci/run) and sets COMPOSITE_REQUIRE_BROWSER=1: there a missing browser fails the run;
// elsewhere the browser checks are skipped with a note.
import { existsSync } from "node:fs";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const HAVE_BROWSER = existsSync(CHROMIUM_PATH);
export const NO_BROWSER_NOTE = `no chromium at ${CHROMIUM_PATH} (apt-get install -y chromium): the browser check is skipped`;

/** A headless chromium as the probe of this machine starts it; undefined where there is none and none is required. */
export async function launchBrowser() {
  if (!HAVE_BROWSER) {
    if (process.env.COMPOSITE_REQUIRE_BROWSER) throw new Error(`no browser at ${CHROMIUM_PATH}: apt-get install -y chromium`);
    return undefined;
  }
  const { chromium } = await import("playwright-core");
  // Without the background-networking flags chromium keeps calling out, and this machine refuses it.
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
