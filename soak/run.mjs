#!/usr/bin/env node
// `npm run soak`: mixed traffic from many keys against the real gateway for a few minutes, on
// loopback only, then the checks of issue 14 (README "Soak test"):
//
//   - every 2xx is counted in D1 exactly, and every 429 of the key's rate limit or daily quota
//     (`usage_daily.requests` / `.rejected` per key, after the leases ended and the KeyLimiters flushed);
//   - no 5xx and no socket error (no fault is injected), no error-level log line;
//   - every answer is the one API.md gives for the key's state when it was sent; in particular,
//     after the answer to a revoke (or a rolled key's expiry) every request with that key is
//     refused — event ingestion within LEASE_MS (a leased key), every other route at once;
//   - workerd's memory stays flat after the warm-up;
//   - no log line holds a key, a key hash, an Authorization scheme or a secret;
//   - the run covered what it is for (leases engaged, 429s of both kinds, revokes, rolls, ...).
//
// One Miniflare (one workerd) runs the gateway bundled as `wrangler deploy` bundles it
// (bench/instrumented-gateway.ts), with wrangler.jsonc's bindings and vars, the D1 migrations
// applied, and bench/origin-http.mjs as its origin; clients are fetch loops in this process.
//
//   SOAK_SECONDS=180   traffic phase (default 180; --short: 20)
//   SOAK_KEYS=200      API keys made through the operator API (--short: 60)
//   SOAK_CLIENTS=24    concurrent client loops (keep-alive connections)
//   SOAK_OUT=…         where the JSON goes (default soak/results/latest.json)
//
// Prints a table; exit code 1 when any check fails. Stops by itself: a watchdog ends a run
// that overruns its time budget. Nothing leaves 127.0.0.1.
import { spawn } from "node:child_process";
import net from "node:net";
import { createHmac, randomInt } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { crc32 } from "node:zlib";
import {
  BENCH_DIR,
  Miniflare,
  ROOT,
  applyMigrations,
  log,
  numberFromEnv,
  round,
  sleep,
  childPids,
  convertV4MiniflareOptions,
  esbuild,
  operatorCall,
  readWranglerConfig,
  requireFromMiniflare,
  stopChild,
  versionOf,
  workerBuildOptions,
} from "../bench/harness.mjs";
import { connectInspector } from "../bench/profile.mjs";

const SOAK_DIR = path.dirname(fileURLToPath(import.meta.url));
/**
 * The bundle, in a directory of this run's own (a second run at the same time builds its own).
 * Under the project: workerd would not start a script bundled into the system's temp directory.
 */
mkdirSync(path.join(SOAK_DIR, ".build"), { recursive: true });
const BUILD_DIR = mkdtempSync(path.join(SOAK_DIR, ".build", "run-"));
const SHORT = process.argv.includes("--short");

const intEnv = (name, fallback, min = 1) => numberFromEnv(name, fallback, { min, integer: true });
const CONFIG = {
  short: SHORT,
  seconds: intEnv("SOAK_SECONDS", SHORT ? 20 : 180, 10),
  keys: intEnv("SOAK_KEYS", SHORT ? 60 : 200, 20),
  clients: intEnv("SOAK_CLIENTS", 24),
  out: process.env.SOAK_OUT || path.join(SOAK_DIR, "results", "latest.json"),
  /** How long the old key of a roll keeps working (the other half of the rolls: 0 s). */
  rollGraceSeconds: SHORT ? 2 : 5,
  /** Addresses (CF-Connecting-IP) the key holders send from, and the two that probe with bad keys. */
  deviceAddresses: 64,
  proberAddresses: ["203.0.113.7", "203.0.113.8"],
  memorySampleMs: 1000,
  /** V8's heap, through workerd's inspector: its low-water mark is the leak check (see memorySummary). */
  heapSampleMs: 250,
};
/**
 * Memory. workerd's resident memory ramps up for the first ≈ 40 s of traffic here (measured:
 * 207 → 645 MiB, then flat) while the gateway isolate's V8 heap stays flat (live size ≈ 7 MiB,
 * at most ≈ 85 MiB reserved): the ramp is native memory — the Durable Objects' and the D1/KV
 * simulators' SQLite databases and their own isolates, allocator arenas — filling up. So:
 *
 *  - RSS: the first 40 % of the traffic is warm-up; the mean of the last third of the samples
 *    after it may exceed the mean of the first third by at most max(64 MiB, 15 %). A leak of
 *    100 bytes per request grows ≈ 10 MiB a minute at this load: the default run (108 s after
 *    warm-up) catches a leak of ≈ 1 KiB per request by RSS. Not judged in the short mode, whose
 *    20 s are all ramp; reported.
 *  - V8 heap of the gateway isolate (its Worker and its Durable Objects): its low-water mark (what
 *    is live after each major GC; workerd's inspector cannot force one) over the second half of
 *    the traffic may exceed that over the first half by at most max(16 MiB, 50 %). Judged in both modes.
 */
const RSS_WARMUP_SHARE = 0.4;
const RSS_GROWTH_BOUND = { mib: 64, share: 0.15 };
const HEAP_GROWTH_BOUND = { mib: 16, share: 0.5 };
/** The KeyLimiter flushes to D1 every 5 s while it has news (src/limiter/key-limiter.ts). */
const FLUSH_INTERVAL_MS = 5_000;
const SECRETS = {
  KEY_HASH_SECRET: "soak-key-hash-secret-0123456789abcdef",
  ORIGIN_SIGNING_SECRET: "soak-origin-signing-secret-0123456789",
  OPERATOR_TOKEN: "soak-operator-token-0123456789abcdef",
};
const EVENT_BODY = JSON.stringify({ event: "page_view", distinct_id: "user_0042", properties: { path: "/pricing", ref: "soak" } });
const BATCH_BODY = JSON.stringify({ batch: [1, 2, 3].map((i) => ({ event: "click", distinct_id: `user_${i}`, properties: { n: i } })) });
const IDENTIFY_BODY = JSON.stringify({ distinct_id: "user_0042", traits: { plan: "pro" } });

const now = () => performance.now();

// ---------------------------------------------------------------------------------------------
// Keys that are not users' keys: unknown but well-formed (a valid checksum), and malformed ones.

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
function toBase62(value, width) {
  let out = "";
  for (let v = value; v > 0; v = Math.floor(v / 62)) out = BASE62[v % 62] + out;
  return out.padStart(width, "0");
}
/** A key of API.md §1's format that no one created. */
function unknownKey(type, env) {
  let random = "";
  for (let i = 0; i < 32; i++) random += BASE62[randomInt(62)];
  const body = `${type}_${env}_${random}`;
  return body + toBase62(crc32(body), 6);
}
/** Malformed variants of a real key: each is refused without a lookup. */
function malformedVariants(key) {
  const last = key.at(-1) === "0" ? "1" : "0";
  return [
    { variant: "checksum", key: key.slice(0, -1) + last, code: "malformed_api_key" },
    { variant: "prefix", key: "xk" + key.slice(2), code: "malformed_api_key" },
    { variant: "length", key: key.slice(0, 40), code: "malformed_api_key" },
    { variant: "alphabet", key: key.slice(0, 43) + "-" + key.slice(44), code: "malformed_api_key" },
  ];
}
const hashOf = (key) => createHmac("sha256", SECRETS.KEY_HASH_SECRET).update(key).digest("hex");

// ---------------------------------------------------------------------------------------------
// Routes the clients use. `ingest`: event ingestion (leases, fail-open); `secretOnly`: 403 for public keys.

const ROUTES = [
  { name: "POST /v1/events", method: "POST", path: "/v1/events", body: EVENT_BODY, ingest: true, weight: 55 },
  { name: "POST /v1/batch", method: "POST", path: "/v1/batch", body: BATCH_BODY, ingest: true, weight: 20 },
  { name: "GET /v1/project", method: "GET", path: "/v1/project", weight: 8 },
  { name: "GET /v1/users/me", method: "GET", path: "/v1/users/me", weight: 5 },
  { name: "POST /v1/identify", method: "POST", path: "/v1/identify", body: IDENTIFY_BODY, weight: 5 },
  { name: "GET /v1/events", method: "GET", path: "/v1/events?limit=10", secretOnly: true, weight: 7 },
  // A key in the path: the credential's own is refused (400, it would reach the origin); another
  // key (a user id that happens to be one, half of them percent-encoded) is forwarded, and the
  // request log must show the path redacted.
  { name: "GET /v1/users/<own key>", method: "GET", path: "/v1/users/", keyInPath: "own", weight: 1 },
  { name: "GET /v1/users/<another key>", method: "GET", path: "/v1/users/", keyInPath: "other", secretOnly: true, weight: 1 },
];
const ROUTE_WEIGHT = ROUTES.reduce((a, r) => a + r.weight, 0);
function pickRoute() {
  let x = Math.random() * ROUTE_WEIGHT;
  for (const route of ROUTES) if ((x -= route.weight) < 0) return route;
  return ROUTES[0];
}

// ---------------------------------------------------------------------------------------------
// The run's state: keys, answers, checks

/** Every key of the run (users' keys, their roll replacements, the two management keys). */
const keys = [];
/** Random parts, hashes and other secrets no log line may hold. */
const secretsInPlay = { randomParts: new Set(), hashes: new Set(), other: [SECRETS.OPERATOR_TOKEN, SECRETS.KEY_HASH_SECRET, SECRETS.ORIGIN_SIGNING_SECRET] };
const watchKey = (key) => {
  secretsInPlay.randomParts.add(key.slice(8, 40));
  secretsInPlay.hashes.add(hashOf(key));
};
const totals = { answers: 0, byStatus: {}, byCode: {}, byKind: {}, ok2xxWithoutRateLimit: 0 };
const failures = { unexpected: [], unexpectedCount: 0, serverErrors: 0, socketErrors: 0, keyInResponse: 0, examples5xx: [] };
/** Revokes and expiries: how late, after the change's answer, a key was still admitted. */
const lateAdmits = { ingestMaxMs: null, otherMaxMs: null };
const coverage = { leasedKeyRevoked: false, refusedRevoked: 0, refusedExpired: 0, validKeyFromBlockedAddress: 0, tooManyFailed: 0 };
const logStats = { lines: 0, requestLines: 0, errorLines: 0, errors: [], violations: [], violationCount: 0 };

function bump(map, key, n = 1) {
  map[key] = (map[key] ?? 0) + n;
}

function newEntry(fields) {
  const entry = {
    ref: keys.length,
    weight: 1,
    answered: { ok2xx: 0, limited429: 0, other: {} },
    revokeSentAt: null,
    revokeAnsweredAt: null,
    revokedVia: null,
    rollSentAt: null,
    rollAnsweredAt: null,
    expiresIn: null,
    rolledTo: null,
    rolledFrom: null,
    ...fields,
  };
  keys.push(entry);
  watchKey(entry.key);
  return entry;
}

/**
 * What API.md allows as the answer to `route` with `entry`'s key, given when it was sent and
 * answered: "active" (admitted, or 429 of its limits, or 403 for a public key on a secret route),
 * "refused" (401 revoked/expired, or the address's 429 too_many_failed_attempts), or "either"
 * (sent while a change was on its way, or within the lease bound after it).
 */
function expectedState(entry, route, sentAt, doneAt) {
  const bound = route.ingest ? LEASE_MS : 0;
  let state = "active";
  const refusedCodes = [];
  const consider = (startedAt, inForceAt, code) => {
    if (startedAt === null || doneAt < startedAt) return;
    if (inForceAt !== null && sentAt >= inForceAt + bound) {
      state = "refused";
      refusedCodes.push(code);
    } else if (state !== "refused") {
      state = "either";
      refusedCodes.push(code);
    }
  };
  consider(entry.revokeSentAt, entry.revokeAnsweredAt, "revoked_api_key");
  if (entry.expiresIn !== null) {
    // The server sets expires_at between the roll's request and its answer.
    const from = entry.rollSentAt + entry.expiresIn * 1000;
    const until = entry.rollAnsweredAt === null ? null : entry.rollAnsweredAt + entry.expiresIn * 1000;
    consider(from, until, "expired_api_key");
  }
  return { state, refusedCodes };
}

function isActiveAnswer(entry, route, status, code) {
  if (route.secretOnly && entry.type === "public") return (status === 403 && code === "insufficient_permissions") || (status === 429 && LIMIT_CODES.has(code));
  return (status >= 200 && status < 300) || (status === 429 && LIMIT_CODES.has(code));
}
const LIMIT_CODES = new Set(["rate_limited", "daily_quota_exceeded"]);

function unexpected(what) {
  failures.unexpectedCount++;
  if (failures.unexpected.length < 20) failures.unexpected.push(what);
}

// ---------------------------------------------------------------------------------------------
// Logs: every line workerd writes is looked at as it comes, nothing is kept but counts.

const KEY_PREFIX_IN_TEXT = /[ps]k_(?:test|live)_[0-9A-Za-z]/;
const HEX64 = /[0-9a-f]{64}/;
const SCHEMES = /\b(?:Bearer|Basic) /;
const ALNUM_RUN = /[0-9A-Za-z]{32,}/g;
const BASE64_RUN = /[A-Za-z0-9+/_-]{56,}={0,2}/g;

/** Whether a base64 or base64url run decodes, at any alignment, to something with a key's prefix. */
function base64HidesKey(run) {
  const standard = run.replace(/=+$/, "").replaceAll("-", "+").replaceAll("_", "/");
  for (let offset = 0; offset < 4; offset++) {
    const aligned = standard.slice(offset, offset + Math.floor((standard.length - offset) / 4) * 4);
    if (KEY_PREFIX_IN_TEXT.test(Buffer.from(aligned, "base64").toString("latin1"))) return true;
  }
  return false;
}

/** Percent-escapes of ASCII decoded, three rounds (as src/http/redact.ts looks at a path). */
function unescapeAscii(text) {
  let current = text;
  for (let round = 0; round < 3 && current.includes("%"); round++) {
    const next = current.replace(/%([0-7][0-9A-Fa-f])/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
    if (next === current) break;
    current = next;
  }
  return current;
}

function scanLogLine(level, message) {
  logStats.lines++;
  if (message.includes('"msg":"request"')) logStats.requestLines++;
  if (level === "error") {
    logStats.errorLines++;
    if (logStats.errors.length < 10) logStats.errors.push(message.slice(0, 300));
  }
  const found = [];
  if (KEY_PREFIX_IN_TEXT.test(message)) found.push("a key prefix (pk_/sk_ + env)");
  else if (message.includes("%") && KEY_PREFIX_IN_TEXT.test(unescapeAscii(message))) found.push("a percent-encoded key prefix");
  if ((message.match(BASE64_RUN) ?? []).some(base64HidesKey)) found.push("a base64-encoded key");
  const hex = HEX64.exec(message);
  if (hex !== null) found.push(secretsInPlay.hashes.has(hex[0]) ? "a key hash" : "a 64-hex string");
  if (SCHEMES.test(message)) found.push("an Authorization scheme");
  for (const run of message.match(ALNUM_RUN) ?? []) {
    for (let i = 0; i + 32 <= run.length; i++) {
      if (secretsInPlay.randomParts.has(run.slice(i, i + 32))) {
        found.push("a key's random part");
        break;
      }
    }
  }
  for (const secret of secretsInPlay.other) if (message.includes(secret)) found.push("a configured secret");
  if (found.length > 0) {
    logStats.violationCount++;
    // Never the line itself: it holds the secret.
    if (logStats.violations.length < 10) logStats.violations.push({ level, holds: found, length: message.length });
  }
}

// ---------------------------------------------------------------------------------------------
// Build and run the gateway

let LEASE_MS = 1000;
const state = { mf: null, origin: null, inspector: null, stopping: false };

async function build(wrangler) {
  await esbuild.build({ ...workerBuildOptions(wrangler), entryPoints: [path.join(BENCH_DIR, "instrumented-gateway.ts")], outfile: path.join(BUILD_DIR, "gateway.js") });
  await esbuild.stop();
}

async function startHttpOrigin() {
  const child = spawn(process.execPath, [path.join(BENCH_DIR, "origin-http.mjs")], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  state.origin = child;
  const port = await new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`HTTP origin exited (${code}) before it was ready`)));
    child.on("message", (message) => message.type === "ready" && resolve(message.port));
  });
  return `http://127.0.0.1:${port}`;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * The gateway isolate's V8 heap (Worker and Durable Objects share it), in KiB: in use and
 * reserved. workerd's inspector does not collect garbage on request, so the live size is read as
 * the low-water mark of many samples (every major GC drops the figure to what is live).
 */
async function heapUsage(inspector) {
  const { usedSize, totalSize } = await inspector.send("Runtime.getHeapUsage");
  return { usedKiB: usedSize / 1024, totalKiB: totalSize / 1024 };
}

function miniflareOptions(wrangler, originUrl, inspectorPort) {
  const sqliteClasses = new Set((wrangler.migrations ?? []).flatMap((m) => m.new_sqlite_classes ?? []));
  return convertV4MiniflareOptions({
    host: "127.0.0.1",
    port: 0,
    cf: false,
    telemetry: { enabled: false },
    inspectorPort, // on 127.0.0.1
    handleStructuredLogs(entry) {
      scanLogLine(entry.level, String(entry.message ?? ""));
    },
    workers: [
      {
        name: "gateway",
        modules: true,
        scriptPath: path.join(BUILD_DIR, "gateway.js"),
        compatibilityDate: wrangler.compatibility_date,
        compatibilityFlags: wrangler.compatibility_flags ?? [],
        bindings: { ...wrangler.vars, ...SECRETS, ORIGIN_URL: originUrl },
        kvNamespaces: Object.fromEntries(wrangler.kv_namespaces.map((kv) => [kv.binding, `soak-${kv.binding}`])),
        d1Databases: Object.fromEntries(wrangler.d1_databases.map((db) => [db.binding, `soak-${db.binding}`])),
        durableObjects: Object.fromEntries(
          wrangler.durable_objects.bindings.map((b) => [b.name, { className: b.class_name, useSQLite: sqliteClasses.has(b.class_name) }]),
        ),
        unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
      },
    ],
  });
}

/** Resident memory by kind (anonymous: heaps; file: mapped files such as the SQLite databases), KiB. */
function rssParts(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssKiB: field("VmRSS"), anonKiB: field("RssAnon"), fileKiB: field("RssFile"), shmemKiB: field("RssShmem") };
}

// ---------------------------------------------------------------------------------------------
// Setup through the operator API

async function setup(base) {
  const operator = (method, pathname, body) => operatorCall(base, SECRETS.OPERATOR_TOKEN, method, pathname, body);
  const project = await operator("POST", "/_operator/projects", { name: "soak" });
  const managers = {};
  for (const env of ["test", "live"]) {
    const created = await operator("POST", "/_operator/keys", { project_id: project.id, type: "secret", environment: env, label: `soak manager (${env})` });
    // A key rolls only keys within its own limits (src/lifecycle.ts): the managers get the highest.
    const limits = { rate: 1_000_000, burst: 10_000_000, daily: 1_000_000_000 };
    await operator("PUT", `/_operator/keys/${created.id}/limits`, limits);
    managers[env] = newEntry({ id: created.id, key: created.key, type: "secret", env, profile: "manager", limits, weight: 0 });
  }
  // Profiles: 4 hot keys (40 % of the traffic: leases engage), the first at a limit it is sent
  // above; every tenth key a low rate limit, every 25th a small daily quota; the rest defaults.
  const plans = Array.from({ length: CONFIG.keys }, (_, i) => {
    const type = i % 2 === 0 ? "public" : "secret";
    const env = i % 10 === 9 ? "live" : "test";
    let profile = "default";
    let limits = null;
    if (i === 0) [profile, limits] = ["hot", { rate: 50, burst: 100 }];
    else if (i < 4) [profile, limits] = ["hot", { rate: 100_000, burst: 100_000 }];
    else if (i % 10 === 3) [profile, limits] = ["low-rate", { rate: 1, burst: 2 }];
    else if (i % 25 === 7) [profile, limits] = ["low-quota", { daily: 30 }];
    return { i, type, env, profile, limits };
  });
  const made = new Array(plans.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let n = next++; n < plans.length; n = next++) {
        const plan = plans[n];
        const created = await operator("POST", "/_operator/keys", { project_id: project.id, type: plan.type, environment: plan.env, label: `soak ${plan.i} ${plan.profile}` });
        if (plan.limits !== null) await operator("PUT", `/_operator/keys/${created.id}/limits`, plan.limits);
        made[n] = { plan, created };
      }
    }),
  );
  const hotShare = 0.4;
  const others = plans.length - 4;
  for (const { plan, created } of made) {
    newEntry({
      id: created.id,
      key: created.key,
      type: plan.type,
      env: plan.env,
      profile: plan.profile,
      limits: plan.limits,
      weight: plan.profile === "hot" ? hotShare / 4 : (1 - hotShare) / others,
    });
  }
  const unknown = Array.from({ length: 40 }, (_, i) => unknownKey(i % 2 ? "sk" : "pk", i % 3 ? "test" : "live"));
  for (const key of unknown) watchKey(key);
  const malformed = keys.filter((k) => k.profile !== "manager").slice(0, 40).flatMap((k) => malformedVariants(k.key));
  return { projectId: project.id, managers, unknown, malformed };
}

// ---------------------------------------------------------------------------------------------
// Traffic

/** Weighted choice over the users' keys (rebuilt when a key is added or its weight changes). */
let pool = { entries: [], cumulative: [], total: 0 };
function rebuildPool() {
  const entries = keys.filter((k) => k.weight > 0);
  const cumulative = [];
  let total = 0;
  for (const e of entries) cumulative.push((total += e.weight));
  pool = { entries, cumulative, total };
}
function pickKey() {
  const x = Math.random() * pool.total;
  let lo = 0;
  let hi = pool.cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pool.cumulative[mid] > x) hi = mid;
    else lo = mid + 1;
  }
  return pool.entries[lo];
}

function routePath(route, entry) {
  if (route.keyInPath === "own") return route.path + entry.key;
  if (route.keyInPath === "other") {
    let other = pickKey().key;
    while (other === entry.key) other = pickKey().key;
    return route.path + (Math.random() < 0.5 ? other : `%${other.charCodeAt(0).toString(16)}${other.slice(1)}`);
  }
  return route.path;
}

/** How a key travels: mostly the header, as SDKs send it; some Basic, some ?api_key=. */
function present(key, pathAndQuery) {
  const r = Math.random();
  if (r < 0.85) return { path: pathAndQuery, authorization: `Bearer ${key}` };
  if (r < 0.95) return { path: pathAndQuery, authorization: `Basic ${Buffer.from(`${key}:`).toString("base64")}` };
  return { path: `${pathAndQuery}${pathAndQuery.includes("?") ? "&" : "?"}api_key=${key}` };
}

async function call(base, { method, path: pathAndQuery, authorization, address, body }) {
  const headers = { "cf-connecting-ip": address };
  if (authorization !== undefined) headers.authorization = authorization;
  if (body !== undefined) headers["content-type"] = "application/json";
  const sentAt = now();
  try {
    const response = await fetch(base + pathAndQuery.slice(1), { method, headers, body });
    const text = await response.text();
    let code = null;
    if (response.status >= 400) {
      try {
        code = JSON.parse(text).code ?? null;
      } catch {
        code = "(not problem+json)";
      }
    }
    return { sentAt, doneAt: now(), status: response.status, code, text, rateLimit: response.headers.has("ratelimit") };
  } catch (error) {
    return { sentAt, doneAt: now(), status: 0, code: error?.cause?.code ?? error?.name ?? "error", text: "", rateLimit: false };
  }
}

/** When each prober address was last answered 429 too_many_failed_attempts (it is blocked for a while after). */
const blockedSeenAt = new Map();

function recordCommon(kind, answer, address) {
  totals.answers++;
  bump(totals.byStatus, String(answer.status));
  if (answer.code !== null) bump(totals.byCode, answer.code);
  bump(totals.byKind, kind);
  if (answer.status === 0) failures.socketErrors++;
  if (answer.status >= 500) {
    failures.serverErrors++;
    if (failures.examples5xx.length < 10) failures.examples5xx.push({ kind, status: answer.status, code: answer.code });
  }
  if (answer.code === "too_many_failed_attempts") {
    coverage.tooManyFailed++;
    blockedSeenAt.set(address, answer.doneAt);
  }
}

/** One answer to a request with a user's (or a manager's) key: counted per key and checked. */
function recordKeyed(entry, route, answer, address) {
  recordCommon("key", answer, address);
  const { status, code } = answer;
  if (answer.text.includes(entry.key)) failures.keyInResponse++;
  if (status >= 200 && status < 300) {
    entry.answered.ok2xx++;
    if (!answer.rateLimit) totals.ok2xxWithoutRateLimit++;
  } else if (status === 429 && LIMIT_CODES.has(code)) entry.answered.limited429++;
  else bump(entry.answered.other, `${status} ${code}`);
  if (status === 0 || status >= 500) return; // counted as failures above
  if (route.keyInPath === "own") {
    // Refused before the key is looked at, whatever its state (src/keys/credentials.ts).
    if (!(status === 400 && code === "invalid_request")) unexpected({ key: entry.id, route: route.name, status, code });
    return;
  }

  const expected = expectedState(entry, route, answer.sentAt, answer.doneAt);
  const active = isActiveAnswer(entry, route, status, code);
  const refused = (status === 401 && expected.refusedCodes.includes(code)) || (status === 429 && code === "too_many_failed_attempts");
  if (status === 429 && code === "too_many_failed_attempts" && expected.state === "active") {
    // API.md §2: a valid key from a blocked address is always served.
    unexpected({ key: entry.id, route: route.name, state: "active", status, code, note: "valid key refused as a failed attempt" });
    return;
  }
  if (expected.state === "active" ? !active : expected.state === "refused" ? !refused : !(active || refused)) {
    unexpected({ key: entry.id, route: route.name, state: expected.state, status, code, sentAfterChangeMs: changeAge(entry, answer.sentAt) });
  }
  if (expected.state === "refused") {
    if (code === "revoked_api_key") coverage.refusedRevoked++;
    if (code === "expired_api_key") coverage.refusedExpired++;
  }
  // Served although its address was refused as a prober less than a second before.
  if (expected.state === "active" && status >= 200 && status < 300 && answer.sentAt - (blockedSeenAt.get(address) ?? -Infinity) < 1000) coverage.validKeyFromBlockedAddress++;
  // How late after a change's answer the key was still admitted (within the bound: allowed).
  if (status >= 200 && status < 300 && expected.state !== "active") {
    const age = changeAge(entry, answer.sentAt);
    if (age !== null && age >= 0) {
      const field = route.ingest ? "ingestMaxMs" : "otherMaxMs";
      lateAdmits[field] = Math.max(lateAdmits[field] ?? 0, age);
    }
  }
}

/** Milliseconds from the change's answer (revoke, or the end of a roll's grace) to `sentAt`. */
function changeAge(entry, sentAt) {
  const ages = [];
  if (entry.revokeAnsweredAt !== null) ages.push(sentAt - entry.revokeAnsweredAt);
  if (entry.rollAnsweredAt !== null && entry.expiresIn !== null) ages.push(sentAt - (entry.rollAnsweredAt + entry.expiresIn * 1000));
  return ages.length === 0 ? null : round(Math.max(...ages), 1);
}

async function clientLoop(base, n, extras) {
  const deviceAddress = (i) => `10.0.${i >> 8}.${(i & 255) + 1}`;
  while (!state.stopping) {
    const r = Math.random();
    if (r < 0.04) {
      // A malformed key (from a prober): refused with no lookup, never counted as a failed attempt.
      const bad = extras.malformed[randomInt(extras.malformed.length)];
      const answer = await call(base, { method: "POST", path: "/v1/events", authorization: `Bearer ${bad.key}`, address: CONFIG.proberAddresses[n % 2], body: EVENT_BODY });
      recordCommon("malformed", answer, CONFIG.proberAddresses[n % 2]);
      if (!(answer.status === 401 && answer.code === bad.code) && answer.status !== 0 && answer.status < 500) unexpected({ kind: `malformed (${bad.variant})`, status: answer.status, code: answer.code });
      if (bad.key && answer.text.includes(bad.key)) failures.keyInResponse++;
    } else if (r < 0.07) {
      // A well-formed key no one created: 401 invalid_api_key, or 429 once the address is blocked.
      const key = extras.unknown[randomInt(extras.unknown.length)];
      const answer = await call(base, { method: "POST", path: "/v1/events", authorization: `Bearer ${key}`, address: CONFIG.proberAddresses[n % 2], body: EVENT_BODY });
      recordCommon("unknown", answer, CONFIG.proberAddresses[n % 2]);
      const ok = (answer.status === 401 && answer.code === "invalid_api_key") || (answer.status === 429 && answer.code === "too_many_failed_attempts");
      if (!ok && answer.status !== 0 && answer.status < 500) unexpected({ kind: "unknown key", status: answer.status, code: answer.code });
      if (answer.text.includes(key)) failures.keyInResponse++;
    } else if (r < 0.08) {
      const answer = await call(base, { method: "POST", path: "/v1/events", address: deviceAddress(randomInt(CONFIG.deviceAddresses)), body: EVENT_BODY });
      recordCommon("no key", answer);
      if (!(answer.status === 401 && answer.code === "missing_api_key") && answer.status !== 0 && answer.status < 500) unexpected({ kind: "no key", status: answer.status, code: answer.code });
    } else if (r < 0.09) {
      // Not in the route table: 404 before the key is even read; nothing counted.
      const entry = pickKey();
      const answer = await call(base, { method: "GET", path: "/v2/anything", authorization: `Bearer ${entry.key}`, address: deviceAddress(randomInt(CONFIG.deviceAddresses)) });
      recordCommon("unknown route", answer);
      if (!(answer.status === 404 && answer.code === "route_not_found") && answer.status !== 0 && answer.status < 500) unexpected({ kind: "unknown route", status: answer.status, code: answer.code });
    } else {
      const entry = pickKey();
      const route = pickRoute();
      // Some of the key holders share an address with the probers: a blocked address still serves valid keys.
      const address = Math.random() < 0.03 ? CONFIG.proberAddresses[n % 2] : deviceAddress(randomInt(CONFIG.deviceAddresses));
      const answer = await call(base, { method: route.method, ...present(entry.key, routePath(route, entry)), address, body: route.body });
      recordKeyed(entry, route, answer, address);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Changes during the run: revokes (operator and management API), rolls (management API)

async function manage(base, manager, method, pathname, body) {
  const route = { name: `${method} ${pathname.replace(/key_[0-9A-Za-z]+/, ":id")}`, management: true };
  const answer = await call(base, { method, path: pathname, authorization: `Bearer ${manager.key}`, address: "127.0.0.1", body: body === undefined ? undefined : JSON.stringify(body) });
  recordCommon("management", answer);
  const { status } = answer;
  if (status >= 200 && status < 300) manager.answered.ok2xx++;
  else if (status === 429 && LIMIT_CODES.has(answer.code)) manager.answered.limited429++;
  else bump(manager.answered.other, `${status} ${answer.code}`);
  if (status < 200 || status >= 300) unexpected({ key: manager.id, route: route.name, status, code: answer.code });
  return { ...answer, json: status >= 200 && status < 300 ? JSON.parse(answer.text) : null };
}

async function revoke(base, entry, managers, via) {
  entry.revokeSentAt = now();
  entry.revokedVia = via;
  if (via === "operator") {
    await operatorCall(base, SECRETS.OPERATOR_TOKEN, "DELETE", `/_operator/keys/${entry.id}`);
  } else {
    const answer = await manage(base, managers[entry.env], "DELETE", `/v1/api_keys/${entry.id}`);
    if (answer.json?.status !== "revoked") throw new Error(`revoking ${entry.id}: answered ${answer.status} ${answer.code}`);
  }
  entry.revokeAnsweredAt = now();
  entry.weight *= 0.25; // still sent, as devices in the field would
  if (entry.profile === "hot") coverage.leasedKeyRevoked = true;
}

async function roll(base, entry, managers, expiresIn) {
  entry.rollSentAt = now();
  entry.expiresIn = expiresIn;
  const answer = await manage(base, managers[entry.env], "POST", `/v1/api_keys/${entry.id}/roll`, { expires_in: expiresIn });
  if (answer.json === null) throw new Error(`rolling ${entry.id}: answered ${answer.status} ${answer.code}`);
  entry.rollAnsweredAt = now();
  const successor = newEntry({
    id: answer.json.id,
    key: answer.json.key,
    type: entry.type,
    env: entry.env,
    profile: entry.profile,
    limits: entry.limits,
    weight: entry.weight,
    rolledFrom: entry.id,
  });
  entry.rolledTo = successor.id;
  entry.weight *= 0.5;
  return successor;
}

/** The changes, at fixed points of the traffic phase, and the manager's reads every 2 s. */
async function conductor(base, managers, trafficStart) {
  const users = keys.filter((k) => k.profile !== "manager");
  const hot = users.filter((k) => k.profile === "hot");
  const rest = users.filter((k) => k.profile !== "hot");
  // Disjoint sets: every 12th key (and hot key 1) revoked early; every 20th (and hot key 2) rolled; every 25th+5 (and hot key 0) revoked late.
  const revokeEarly = [hot[1], ...rest.filter((_, i) => i % 12 === 1)];
  const rollSet = [hot[2], ...rest.filter((_, i) => i % 20 === 6 && i % 12 !== 1)];
  const revokeLate = [hot[0], ...rest.filter((_, i) => i % 25 === 5 && i % 12 !== 1 && i % 20 !== 6)];
  const at = (share) => trafficStart + share * CONFIG.seconds * 1000;
  const until = async (t) => {
    while (!state.stopping && now() < t) {
      await sleep(Math.min(2000, Math.max(0, t - now())));
      if (now() < t && !state.stopping) await manage(base, managers.test, "GET", `/v1/api_keys/${users.find((k) => k.env === "test").id}/usage?days=1`);
    }
  };
  const events = [];
  await until(at(0.25));
  await Promise.all(revokeEarly.map((e, i) => revoke(base, e, managers, i % 2 === 0 ? "operator" : "management")));
  events.push({ atS: round((now() - trafficStart) / 1000, 1), what: "revoke", keys: revokeEarly.map((e) => ({ id: e.id, via: e.revokedVia, profile: e.profile, answeredInMs: round(e.revokeAnsweredAt - e.revokeSentAt, 1) })) });
  rebuildPool();
  await until(at(0.4));
  const successors = [];
  for (const [i, e] of rollSet.entries()) successors.push(await roll(base, e, managers, i % 2 === 0 ? CONFIG.rollGraceSeconds : 0));
  events.push({ atS: round((now() - trafficStart) / 1000, 1), what: "roll", keys: rollSet.map((e) => ({ id: e.id, to: e.rolledTo, expiresIn: e.expiresIn, profile: e.profile })) });
  rebuildPool();
  await until(at(0.55));
  const late = [...revokeLate, successors[1]].filter(Boolean);
  await Promise.all(late.map((e, i) => revoke(base, e, managers, i % 2 === 0 ? "management" : "operator")));
  events.push({ atS: round((now() - trafficStart) / 1000, 1), what: "revoke", keys: late.map((e) => ({ id: e.id, via: e.revokedVia, profile: e.profile, answeredInMs: round(e.revokeAnsweredAt - e.revokeSentAt, 1) })) });
  rebuildPool();
  await until(at(1));
  return events;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const startedAt = new Date();
  const budgetMs = (120 + CONFIG.keys * 0.2 + CONFIG.seconds + 60) * 1000;
  const watchdog = setTimeout(() => {
    process.stderr.write(`soak: still running after ${budgetMs / 1000} s, giving up\n`);
    process.exitCode = 1;
    void cleanup().finally(() => process.exit(1));
  }, budgetMs);
  watchdog.unref();

  const wrangler = readWranglerConfig();
  LEASE_MS = Number(wrangler.vars.LEASE_MS ?? 1000);
  log(`soak: ${CONFIG.seconds} s of traffic, ${CONFIG.keys} keys, ${CONFIG.clients} clients${SHORT ? " (short mode)" : ""}; building the gateway`);
  await build(wrangler);
  const originUrl = await startHttpOrigin();
  const inspectorPort = await freePort();
  state.mf = new Miniflare(miniflareOptions(wrangler, originUrl, inspectorPort));
  await state.mf.ready;
  state.inspector = await connectInspector(inspectorPort, "gateway");
  const workerdPids = childPids(process.pid, "workerd");
  if (workerdPids.length !== 1) throw new Error(`expected one workerd child process, found ${workerdPids.length}`);
  const workerdPid = workerdPids[0];
  const base = (await state.mf.unsafeGetDirectURL("gateway")).href;
  if (new URL(base).hostname !== "127.0.0.1" || new URL(originUrl).hostname !== "127.0.0.1") throw new Error(`not loopback: ${base}, ${originUrl}`);
  const db = await state.mf.getD1Database("DB", "gateway");
  await applyMigrations(db, wrangler);

  const setupStarted = now();
  const extras = await setup(base);
  rebuildPool();
  log(`soak: ${keys.length} keys made in ${((now() - setupStarted) / 1000).toFixed(1)} s (project ${extras.projectId}); workerd pid ${workerdPid}; traffic for ${CONFIG.seconds} s`);

  const memory = [{ t: 0, ...rssParts(workerdPid), phase: "before" }];
  const heap = [{ t: 0, ...(await heapUsage(state.inspector)), phase: "before" }];
  const trafficStart = now();
  const sampler = setInterval(() => memory.push({ t: round((now() - trafficStart) / 1000, 1), ...rssParts(workerdPid), phase: "traffic" }), CONFIG.memorySampleMs);
  let heapSampling = Promise.resolve();
  const heapSampler = setInterval(() => {
    heapSampling = heapSampling.then(async () => heap.push({ t: round((now() - trafficStart) / 1000, 2), ...(await heapUsage(state.inspector)), phase: "traffic" }));
  }, CONFIG.heapSampleMs);
  const progress = setInterval(() => log(`  ${Math.round((now() - trafficStart) / 1000)} s: ${totals.answers} answers, ${failures.unexpectedCount} unexpected, ${failures.serverErrors} 5xx, workerd ${Math.round(memory.at(-1).rssKiB / 1024)} MiB`), 10_000);
  const loops = Array.from({ length: CONFIG.clients }, (_, n) => clientLoop(base, n, extras));
  let events;
  try {
    events = await conductor(base, extras.managers, trafficStart);
  } finally {
    state.stopping = true;
    await Promise.all(loops);
    clearInterval(sampler);
    clearInterval(heapSampler);
    clearInterval(progress);
    await heapSampling;
  }
  const trafficSeconds = (now() - trafficStart) / 1000;
  memory.push({ t: round(trafficSeconds, 1), ...rssParts(workerdPid), phase: "end" });
  heap.push({ t: round(trafficSeconds, 1), ...(await heapUsage(state.inspector)), phase: "end" });

  // D1: once the leases have ended (LEASE_MS) and each KeyLimiter's alarm has flushed (every 5 s).
  log(`soak: traffic over (${totals.answers} answers in ${trafficSeconds.toFixed(1)} s); waiting for the leases to end and the KeyLimiters to flush`);
  await sleep(LEASE_MS + 500);
  const drainStart = now();
  let d1 = null;
  let mismatches = null;
  for (;;) {
    const { results } = await db.prepare("SELECT key_id, SUM(requests) AS requests, SUM(rejected) AS rejected FROM usage_daily GROUP BY key_id").all();
    d1 = new Map(results.map((row) => [row.key_id, { requests: row.requests, rejected: row.rejected }]));
    mismatches = countMismatches(d1);
    if (mismatches.length === 0 || now() - drainStart > 2 * FLUSH_INTERVAL_MS + 5_000) break;
    await sleep(1000);
  }
  const d1SettledAfterS = round((now() - drainStart + LEASE_MS + 500) / 1000, 1);
  memory.push({ t: round((now() - trafficStart) / 1000, 1), ...rssParts(workerdPid), phase: "after" });
  heap.push({ t: round((now() - trafficStart) / 1000, 1), ...(await heapUsage(state.inspector)), phase: "after" });
  const counters = await (await fetch(new URL("/__bench/counters", base))).json();

  const results = report({ startedAt, trafficSeconds, events, d1, mismatches, d1SettledAfterS, memory, heap, counters, workerdPid, extras });
  clearTimeout(watchdog);
  mkdirSync(path.dirname(CONFIG.out), { recursive: true });
  writeFileSync(CONFIG.out, JSON.stringify(results, null, 2) + "\n");
  printTable(results);
  log(`\nsoak: wrote ${path.relative(process.cwd(), CONFIG.out) || CONFIG.out}`);
  if (!results.passed) process.exitCode = 1;
}

function countMismatches(d1) {
  const out = [];
  for (const entry of keys) {
    const row = d1.get(entry.id) ?? { requests: 0, rejected: 0 };
    if (row.requests !== entry.answered.ok2xx || row.rejected !== entry.answered.limited429) {
      out.push({ key: entry.id, profile: entry.profile, answered: { ok2xx: entry.answered.ok2xx, limited429: entry.answered.limited429 }, d1: row });
    }
  }
  const known = new Set(keys.map((k) => k.id));
  for (const [id, row] of d1) if (!known.has(id)) out.push({ key: id, profile: "(not a key of this run)", answered: null, d1: row });
  return out;
}

function memorySummary(samples, heap) {
  const traffic = samples.filter((s) => s.phase === "traffic");
  const afterWarmup = traffic.filter((s) => s.t >= RSS_WARMUP_SHARE * CONFIG.seconds);
  const third = Math.floor(afterWarmup.length / 3);
  const mean = (list) => list.reduce((a, s) => a + s.rssKiB, 0) / list.length / 1024;
  const all = samples.map((s) => s.rssKiB / 1024);
  const rss = {
    startMiB: round(samples[0].rssKiB / 1024, 1),
    endOfTrafficMiB: round(samples.find((s) => s.phase === "end").rssKiB / 1024, 1),
    afterDrainMiB: round(samples.at(-1).rssKiB / 1024, 1),
    maxMiB: round(Math.max(...all), 1),
  };
  if (third >= 2) {
    const first = mean(afterWarmup.slice(0, third));
    const last = mean(afterWarmup.slice(-third));
    const bound = Math.max(RSS_GROWTH_BOUND.mib, RSS_GROWTH_BOUND.share * first);
    Object.assign(rss, { afterWarmupMiB: round(afterWarmup[0].rssKiB / 1024, 1), firstThirdMeanMiB: round(first, 1), lastThirdMeanMiB: round(last, 1), growthMiB: round(last - first, 1), boundMiB: round(bound, 1) });
    rss.judged = !SHORT;
    rss.pass = SHORT || last - first <= bound;
  } else {
    rss.judged = false;
    rss.pass = true;
  }
  rss.rule = `mean of the last third − mean of the first third of the samples after the first ${RSS_WARMUP_SHARE * 100} % of the traffic ≤ max(${RSS_GROWTH_BOUND.mib} MiB, ${RSS_GROWTH_BOUND.share * 100} %)${SHORT ? "; reported, not judged, in the short mode" : ""}`;

  const during = heap.filter((h) => h.phase === "traffic");
  const half = Math.floor(during.length / 2);
  const low = (list) => Math.min(...list.map((h) => h.usedKiB)) / 1024;
  const heapSummary = { samples: during.length, maxUsedMiB: round(Math.max(...heap.map((h) => h.usedKiB)) / 1024, 1), maxReservedMiB: round(Math.max(...heap.map((h) => h.totalKiB)) / 1024, 1) };
  if (half >= 4) {
    const first = low(during.slice(0, half));
    const last = low(during.slice(half));
    const bound = Math.max(HEAP_GROWTH_BOUND.mib, HEAP_GROWTH_BOUND.share * first);
    Object.assign(heapSummary, { firstHalfLowMiB: round(first, 1), secondHalfLowMiB: round(last, 1), growthMiB: round(last - first, 1), boundMiB: round(bound, 1), pass: last - first <= bound });
  } else heapSummary.pass = false;
  heapSummary.rule = `low-water mark of the gateway isolate's V8 heap, second half of the traffic − first half ≤ max(${HEAP_GROWTH_BOUND.mib} MiB, ${HEAP_GROWTH_BOUND.share * 100} %)`;
  return { rss, heap: heapSummary, pass: rss.pass && heapSummary.pass };
}

function report({ startedAt, trafficSeconds, events, d1, mismatches, d1SettledAfterS, memory, heap, counters, workerdPid, extras }) {
  const mem = memorySummary(memory, heap);
  const users = keys.filter((k) => k.profile !== "manager");
  const sum = (pick) => keys.reduce((a, k) => a + pick(k), 0);
  const answered2xx = sum((k) => k.answered.ok2xx);
  const answered429 = sum((k) => k.answered.limited429);
  const d1Requests = [...d1.values()].reduce((a, r) => a + r.requests, 0);
  const d1Rejected = [...d1.values()].reduce((a, r) => a + r.rejected, 0);
  const revoked = keys.filter((k) => k.revokeAnsweredAt !== null);
  const rolled = keys.filter((k) => k.rollAnsweredAt !== null);
  const leaseCalls = counters.limiterCalls?.renewLease ?? 0;
  const check = (name, pass, detail) => ({ name, pass, detail });
  const checks = [
    check("D1 counts = answers, per key", mismatches.length === 0, `${keys.length - mismatches.filter((m) => m.answered !== null).length} of ${keys.length} keys exact; D1 ${d1Requests} requests / ${d1Rejected} rejected, answered ${answered2xx} 2xx / ${answered429} 429 (rate_limited, daily_quota_exceeded); settled ${d1SettledAfterS} s after the traffic`),
    check("no 5xx, no socket error", failures.serverErrors === 0 && failures.socketErrors === 0, `${failures.serverErrors} 5xx, ${failures.socketErrors} socket errors (no fault injected)`),
    check("no error-level log line", logStats.errorLines === 0, `${logStats.errorLines} of ${logStats.lines} lines`),
    check("every answer as API.md says for the key's state", failures.unexpectedCount === 0, `${failures.unexpectedCount} unexpected of ${totals.answers}`),
    check(
      `revoked/expired keys refused (ingest within LEASE_MS = ${LEASE_MS} ms, else at once)`,
      failures.unexpected.every((u) => u.state !== "refused") && coverage.refusedRevoked > 0,
      `${revoked.length} revoked, ${rolled.length} rolled; ${coverage.refusedRevoked} refused as revoked, ${coverage.refusedExpired} as expired; latest admit after a change: ingest ${lateAdmits.ingestMaxMs ?? "none"} ms, other routes ${lateAdmits.otherMaxMs ?? "none"} ms`,
    ),
    check(
      "workerd memory flat after warm-up",
      mem.pass,
      `V8 heap live ${mem.heap.firstHalfLowMiB} → ${mem.heap.secondHalfLowMiB} MiB (bound +${mem.heap.boundMiB}); RSS ${mem.rss.firstThirdMeanMiB ?? "-"} → ${mem.rss.lastThirdMeanMiB ?? "-"} MiB after warm-up (bound +${mem.rss.boundMiB ?? "-"}${mem.rss.judged ? "" : ", not judged"}), max ${mem.rss.maxMiB} MiB`,
    ),
    check("no key, key hash, Authorization scheme or secret in any log line", logStats.violationCount === 0 && logStats.lines > 0, `${logStats.violationCount} of ${logStats.lines} lines (${logStats.requestLines} request lines)`),
    check("no key in any response body", failures.keyInResponse === 0, `${failures.keyInResponse} answers`),
    check(
      "coverage: leases, both 429s, revokes of a leased key, rolls, failed-auth guard",
      leaseCalls > 0 && (totals.byCode.rate_limited ?? 0) > 0 && (totals.byCode.daily_quota_exceeded ?? 0) > 0 && coverage.leasedKeyRevoked && coverage.refusedExpired > 0 && coverage.tooManyFailed > 0 && coverage.validKeyFromBlockedAddress > 0,
      `${leaseCalls} lease renewals, ${totals.byCode.rate_limited ?? 0} rate_limited, ${totals.byCode.daily_quota_exceeded ?? 0} daily_quota_exceeded, leased key revoked: ${coverage.leasedKeyRevoked}, ${coverage.refusedExpired} expired refusals, ${coverage.tooManyFailed} too_many_failed_attempts, ${coverage.validKeyFromBlockedAddress} valid keys served from blocked addresses`,
    ),
  ];
  return {
    passed: checks.every((c) => c.pass),
    checks,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    config: { ...CONFIG, leaseMs: LEASE_MS, rssWarmupShare: RSS_WARMUP_SHARE, rssGrowthBound: RSS_GROWTH_BOUND, heapGrowthBound: HEAP_GROWTH_BOUND, routes: ROUTES.map(({ name, weight, ingest, secretOnly }) => ({ name, weight, ingest: !!ingest, secretOnly: !!secretOnly })) },
    machine: { cpus: os.cpus().length, node: process.version, workerd: versionOf(requireFromMiniflare.resolve("workerd/package.json")), workerdPid },
    traffic: {
      seconds: round(trafficSeconds, 1),
      answers: totals.answers,
      perSecond: round(totals.answers / trafficSeconds, 1),
      byStatus: totals.byStatus,
      byCode: totals.byCode,
      byKind: totals.byKind,
      ok2xxWithoutRateLimit: totals.ok2xxWithoutRateLimit,
    },
    events,
    lateAdmitsAfterChangeMs: lateAdmits,
    coverage: { ...coverage, leaseRenewals: leaseCalls },
    counts: {
      d1SettledAfterS,
      answered2xx,
      answered429,
      d1Requests,
      d1Rejected,
      mismatches: mismatches.slice(0, 20),
      mismatchCount: mismatches.length,
      rejectedMeans: "usage_daily.rejected counts 429 rate_limited and daily_quota_exceeded only (src/limiter/key-limiter.ts); 401/403/404 and the address's 429 too_many_failed_attempts take nothing and count nothing (API.md §3)",
    },
    keys: keys.map((k) => ({
      id: k.id,
      type: k.type,
      env: k.env,
      profile: k.profile,
      limits: k.limits ?? null,
      revoked: k.revokeAnsweredAt === null ? null : k.revokedVia,
      rolledTo: k.rolledTo,
      rolledFrom: k.rolledFrom,
      expiresIn: k.expiresIn,
      answered: k.answered,
      d1: d1.get(k.id) ?? { requests: 0, rejected: 0 },
    })),
    unknownKeys: extras.unknown.length,
    malformedKeys: extras.malformed.length,
    unexpected: failures.unexpected,
    examples5xx: failures.examples5xx,
    memory: {
      ...mem,
      heapSamples: heap.filter((_, i) => i % 4 === 0 || heap[i].phase !== "traffic").map((h) => ({ t: h.t, usedMiB: round(h.usedKiB / 1024, 1), reservedMiB: round(h.totalKiB / 1024, 1), phase: h.phase })),
      rssSamples: memory.map((s) => ({ t: s.t, mib: round(s.rssKiB / 1024, 1), anonMiB: round(s.anonKiB / 1024, 1), fileMiB: round(s.fileKiB / 1024, 1), phase: s.phase })),
    },
    logs: { lines: logStats.lines, requestLines: logStats.requestLines, errorLines: logStats.errorLines, errors: logStats.errors, violations: logStats.violations, violationCount: logStats.violationCount },
    gatewayCounters: { requests: counters.requests, limiterCalls: counters.limiterCalls, storageCalls: counters.sites },
    users: users.length,
  };
}

function printTable(r) {
  const pad = (s, n) => String(s).padEnd(n);
  log("");
  log(`Composite gateway soak — ${r.traffic.seconds} s, ${r.keys.length} keys, ${r.config.clients} clients, ${r.traffic.answers} answers (${r.traffic.perSecond}/s), workerd ${r.machine.workerd}`);
  log(`answers by status: ${Object.entries(r.traffic.byStatus).sort().map(([s, n]) => `${s}: ${n}`).join(", ")}`);
  log(`refusals by code:  ${Object.entries(r.traffic.byCode).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(", ")}`);
  log("");
  for (const c of r.checks) log(`${c.pass ? "PASS" : "FAIL"}  ${pad(c.name, 76)} ${c.detail}`);
  log("");
  log(r.passed ? "soak: PASSED" : `soak: FAILED (${r.checks.filter((c) => !c.pass).map((c) => c.name).join("; ")})`);
  if (r.unexpected.length > 0) log(`unexpected answers (first ${r.unexpected.length}): ${r.unexpected.map((u) => JSON.stringify(u)).join("\n  ")}`);
  if (r.counts.mismatchCount > 0) log(`D1 mismatches (first ${r.counts.mismatches.length}): ${r.counts.mismatches.map((m) => JSON.stringify(m)).join("\n  ")}`);
  if (r.logs.errors.length > 0) log(`error-level log lines: ${r.logs.errors.join("\n  ")}`);
}

// ---------------------------------------------------------------------------------------------

let cleaning = null;
function cleanup() {
  state.stopping = true;
  cleaning ??= (async () => {
    state.inspector?.close();
    if (state.mf) await state.mf.dispose().catch(() => {});
    if (state.origin) await stopChild(state.origin).catch(() => {});
    rmSync(BUILD_DIR, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    process.stderr.write(`soak: ${signal}, stopping\n`);
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  await main();
} catch (error) {
  process.stderr.write(`soak: FAILED: ${error?.stack ?? error}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
