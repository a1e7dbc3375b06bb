#!/usr/bin/env node
// `npm run smoke -- <gateway url>`: is a deployed (or local) gateway up and refusing as API.md says?
//
// Needs no key and no token, so it can run after every deploy, against any environment:
//   1. GET /_operator/health                  → 200 {"ok":true}
//   2. POST /v1/events with no key            → 401 missing_api_key, problem+json, WWW-Authenticate
//   3. POST /v1/events with a malformed key   → 401 malformed_api_key (the key is a checksum typo of
//                                               API.md's test vector, refused before any lookup)
// Neither refusal is counted by the failed-auth guard (API.md §2 counts unknown, revoked and expired
// keys only), so running it often never blocks the address it runs from.
//
// A freshly deployed Worker can take a few seconds to answer everywhere: a check that fails with a
// network error or a 5xx is tried again until SMOKE_TIMEOUT_S (default 30) has passed; any other
// wrong answer fails at once. Exit code 0 when every check holds, 1 otherwise (each failure named).

import { pathToFileURL } from "node:url";

// API.md §1's first test vector with its last checksum character changed: well-formed but wrong.
const MALFORMED_KEY = "pk_test_000000000000000000000000000000000LJpC8";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One request; the body parsed as JSON when it is JSON. Network errors come back as { error }. */
async function call(url, init) {
  try {
    const response = await fetch(url, { ...init, redirect: "manual", signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON: the check says so
    }
    return { status: response.status, headers: response.headers, text, json };
  } catch (error) {
    return { error: error.cause?.message ?? error.message };
  }
}

/** What is wrong with a problem+json answer, or null. */
function problemMismatch(answer, status, code) {
  const got = `got ${answer.status} ${answer.text.slice(0, 200)}`;
  if (answer.status !== status) return `expected ${status} ${code}, ${got}`;
  if (!/^application\/problem\+json/.test(answer.headers.get("content-type") ?? "")) return `expected content-type application/problem+json, got ${answer.headers.get("content-type")}`;
  if (answer.json?.code !== code) return `expected code ${code}, ${got}`;
  if (!answer.json.request_id || answer.json.request_id !== answer.headers.get("x-request-id")) return "expected request_id equal to the X-Request-Id header";
  if (status === 401 && !/^Bearer realm="composite"/.test(answer.headers.get("www-authenticate") ?? "")) return 'expected WWW-Authenticate: Bearer realm="composite"';
  return null;
}

const CHECKS = [
  {
    name: "GET /_operator/health → 200 {\"ok\":true}",
    request: (base) => [new URL("/_operator/health", base), { method: "GET" }],
    judge: (answer) => (answer.status === 200 && answer.json?.ok === true ? null : `expected 200 {"ok":true}, got ${answer.status} ${answer.text.slice(0, 200)}`),
  },
  {
    name: "POST /v1/events without a key → 401 missing_api_key",
    request: (base) => [new URL("/v1/events", base), { method: "POST", headers: { "content-type": "application/json" }, body: '{"event":"smoke_check"}' }],
    judge: (answer) => problemMismatch(answer, 401, "missing_api_key"),
  },
  {
    name: "POST /v1/events with a malformed key → 401 malformed_api_key",
    request: (base) => [
      new URL("/v1/events", base),
      { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${MALFORMED_KEY}` }, body: '{"event":"smoke_check"}' },
    ],
    judge: (answer) => problemMismatch(answer, 401, "malformed_api_key"),
  },
];

/**
 * Runs every check against baseUrl. Resolves to { ok, results: [{ name, ok, problem }] }; never throws
 * for an answer, only for a baseUrl that is not a URL.
 */
export async function smokeCheck(baseUrl, { timeoutS = Number(process.env.SMOKE_TIMEOUT_S ?? 30), log = () => {} } = {}) {
  const base = new URL(baseUrl);
  const deadline = Date.now() + timeoutS * 1000;
  const results = [];
  for (const check of CHECKS) {
    let problem;
    for (;;) {
      const answer = await call(...check.request(base));
      const transient = answer.error !== undefined || answer.status >= 500;
      problem = answer.error !== undefined ? `no answer: ${answer.error}` : check.judge(answer);
      if (problem === null || !transient || Date.now() >= deadline) break;
      log(`  … ${check.name}: ${problem}; trying again`);
      await sleep(2_000);
    }
    results.push({ name: check.name, ok: problem === null, problem });
    log(`  ${problem === null ? "ok  " : "FAIL"} ${check.name}${problem === null ? "" : `\n       ${problem}`}`);
  }
  return { ok: results.every((result) => result.ok), results };
}

async function main() {
  const url = process.argv[2];
  if (!url || process.argv.length > 3) {
    console.error("usage: npm run smoke -- <gateway url>   e.g. npm run smoke -- https://composite-gateway-staging.example.workers.dev");
    process.exit(2);
  }
  try {
    new URL(url);
  } catch {
    console.error(`error: not a URL: ${url}`);
    process.exit(2);
  }
  console.log(`smoke check of ${url}`);
  const { ok } = await smokeCheck(url, { log: (line) => console.log(line) });
  if (!ok) {
    console.error(`\nSMOKE CHECK FAILED for ${url}: the gateway does not answer as API.md says (see FAIL above).`);
    process.exit(1);
  }
  console.log("smoke check passed");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
