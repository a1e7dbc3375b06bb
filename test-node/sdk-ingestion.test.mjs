// Ingestion as users run it, against a real `npm run dev` (scripts/dev.mjs: wrangler dev, local
// KV/D1/Durable Objects) forwarding to a recording origin of this file (ORIGIN_URL):
//
//  - outside SDKs, installed from npm at pinned versions, with a public key as their write key:
//    Segment's @segment/analytics-node (Basic, /v1/batch), RudderStack's Node SDK (Basic,
//    /v1/batch, gzip) and posthog-node (the key as the body's api_key, /batch/, gzip). Each
//    delivers every event exactly once, the origin never sees the key, a batch is one request,
//    and each backs off on 429 and still delivers everything;
//  - our SDK as a user gets it: `npm pack` of sdk/, installed from the tarball into a scratch
//    project with no network (`npm install --offline`), used from Node and from a chromium page of
//    another origin (CORS, and the keepalive flush when the page is hidden).
//
// The client → gateway traffic of the outside SDKs goes through a small recording proxy, so the
// tests see every answer (the 429s and their Retry-After) exactly as the SDK got it.

import { execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HAVE_BROWSER, launchBrowser, NO_BROWSER_NOTE } from "./helpers/browser.mjs";
import { createOperatorClient } from "../cli/operator-client.mjs";
import { createSignatureVerifier } from "../examples/origin/verify-signature.js";
import { anyFreePort } from "../scripts/ports.mjs";
import { stopProcessGroup } from "../scripts/process-group.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const READY_TIMEOUT_MS = 90_000;
const SECRETS = {
  KEY_HASH_SECRET: randomBytes(24).toString("base64url"),
  ORIGIN_SIGNING_SECRET: randomBytes(24).toString("base64url"),
  OPERATOR_TOKEN: randomBytes(24).toString("base64url"),
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// The recording origin: verifies the gateway's signature (examples/origin/verify-signature.js)
// and keeps every request it was sent. It also serves the browser test's page, as another origin.

function startOrigin(pageFiles) {
  const received = [];
  const verify = createSignatureVerifier({ secret: SECRETS.ORIGIN_SIGNING_SECRET });
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const raw = Buffer.concat(chunks);
    if (req.method === "GET" && pageFiles[req.url]) {
      const [type, body] = pageFiles[req.url]();
      res.writeHead(200, { "content-type": type, "cache-control": "no-store" });
      return res.end(body);
    }
    const verdict = await verify(req);
    received.push({ method: req.method, url: req.url, headers: req.headers, body: raw.toString("utf8"), signature: verdict.ok ? "valid" : verdict.reason, identity: verdict.identity });
    res.writeHead(verdict.ok ? 200 : 401, { "content-type": "application/json" });
    res.end(verdict.ok ? '{"ok":true}' : '{"ok":false}');
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, received, url: `http://127.0.0.1:${server.address().port}` })));
}

// A pass-through proxy in front of the gateway that notes each answer's status, Retry-After and
// the time, per key id the gateway named in the forwarded answer (or the path when refused).
function startProxy(target) {
  const answers = [];
  const server = http.createServer((req, res) => {
    const upstream = http.request(new URL(req.url, target), { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (answer) => {
      answers.push({
        at: Date.now(),
        path: req.url,
        status: answer.statusCode,
        retryAfter: answer.headers["retry-after"],
        remainingDay: answer.headers["x-ratelimit-remaining-day"],
        encoding: req.headers["content-encoding"] ?? null,
        authorization: req.headers.authorization ?? null,
      });
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, answers, url: `http://127.0.0.1:${server.address().port}` })));
}

/** The events the origin got for one key: every batch's events, from whichever SDK's shape. */
function eventsAtOrigin(received, keyId) {
  return received
    .filter((r) => r.signature === "valid" && r.headers["x-composite-key-id"] === keyId)
    .flatMap((r) => {
      const body = JSON.parse(r.body);
      return Array.isArray(body.batch) ? body.batch : [body];
    });
}

function expectExactlyOnce(events, idOf, expected) {
  const ids = events.map(idOf);
  const counts = new Map();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  expect([...counts.values()].filter((n) => n > 1), "events delivered more than once").toEqual([]);
  expect(ids.length).toBe(expected);
}

describe("ingestion through a real `npm run dev`: outside SDKs and the packed SDK", () => {
  let devDir;
  let dev;
  let devExit;
  let gatewayUrl;
  let origin;
  let proxy;
  let operator;
  let projectId;
  let scratch;
  let tarball;
  const output = [];

  /** A fresh public test key (its own bucket), optionally with low limits. */
  async function publicKey(limits) {
    const key = await operator.createKey({ project_id: projectId, type: "public", environment: "test", label: "ingestion test" });
    if (limits) await operator.setLimits(key.id, limits);
    return key;
  }

  beforeAll(async () => {
    devDir = mkdtempSync(path.join(os.tmpdir(), "composite-ingestion-"));
    writeFileSync(path.join(devDir, ".dev.vars"), Object.entries(SECRETS).map(([k, v]) => `${k}=${v}\n`).join(""), { mode: 0o600 });
    mkdirSync(path.join(devDir, "tmp"));
    scratch = path.join(devDir, "scratch");
    mkdirSync(scratch);

    origin = await startOrigin({
      "/page.html": () => ["text/html", "<!doctype html><title>shop</title><p>a page of another origin"],
      "/composite.js": () => ["text/javascript", readFileSync(path.join(scratch, "node_modules/@composite/sdk/dist/composite.js"))],
    });
    const port = await anyFreePort();
    gatewayUrl = `http://127.0.0.1:${port}`;
    const env = { ...process.env, NO_COLOR: "1", WRANGLER_SEND_METRICS: "false", PORT: String(port), COMPOSITE_DEV_DIR: devDir, TMPDIR: path.join(devDir, "tmp"), ORIGIN_URL: origin.url };
    delete env.OPERATOR_TOKEN;
    dev = spawn(process.execPath, [path.join(ROOT, "scripts/dev.mjs")], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    devExit = new Promise((resolve) => dev.once("exit", resolve));
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm run dev not ready in time:\n${output.slice(-30).join("")}`)), READY_TIMEOUT_MS);
      for (const stream of [dev.stdout, dev.stderr]) {
        stream.setEncoding("utf8");
        stream.on("data", (chunk) => {
          output.push(chunk);
          if (/\n\s*Stop\s+Ctrl-C/.test(output.join(""))) {
            clearTimeout(timer);
            resolve();
          }
        });
      }
      devExit.then((code) => reject(new Error(`npm run dev exited (${code}):\n${output.slice(-30).join("")}`)));
    });
    proxy = await startProxy(gatewayUrl);
    operator = createOperatorClient({ baseUrl: gatewayUrl, token: SECRETS.OPERATOR_TOKEN });
    projectId = (await operator.createProject("ingestion")).id;

    // The SDK as a user gets it: packed (prepack builds it), installed offline into a scratch project.
    const packOutput = execFileSync("npm", ["pack", "--json", "--pack-destination", devDir], { cwd: path.join(ROOT, "sdk"), encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    const packed = JSON.parse(packOutput.slice(packOutput.search(/^\[/m))); // after the prepack build's own lines
    tarball = path.join(devDir, packed[0].filename);
    writeFileSync(path.join(scratch, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module" }));
    execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", tarball], { cwd: scratch, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  }, READY_TIMEOUT_MS + 60_000);

  afterAll(async () => {
    if (dev?.exitCode === null) await stopProcessGroup(dev, devExit, { signal: "SIGINT", graceMs: 20_000 });
    origin?.server.close();
    proxy?.server.close();
    if (devDir) rmSync(devDir, { recursive: true, force: true });
  }, 40_000);

  describe("outside SDKs, pinned in devDependencies, with a public key as their write key", () => {
    it("Segment @segment/analytics-node (Basic, /v1/batch): every event exactly once, no key at the origin, a batch is one request", async () => {
      const key = await publicKey();
      const { Analytics } = await import("@segment/analytics-node");
      const analytics = new Analytics({ writeKey: key.key, host: proxy.url, flushAt: 10, flushInterval: 500 });
      for (let i = 0; i < 25; i++) analytics.track({ userId: "u_seg", event: "segment_event", properties: { i } });
      await analytics.closeAndFlush({ timeout: 30_000 });

      const events = eventsAtOrigin(origin.received, key.id);
      expectExactlyOnce(events, (e) => e.messageId, 25);
      expect(events.map((e) => e.properties.i).sort((a, b) => a - b)).toEqual([...Array(25).keys()]);
      const requests = origin.received.filter((r) => r.headers["x-composite-key-id"] === key.id);
      expect(requests.every((r) => r.url === "/v1/batch" && r.signature === "valid" && r.headers.authorization === undefined)).toBe(true);
      expect(JSON.stringify(requests)).not.toContain(key.key);
      const answered = proxy.answers.filter((a) => a.authorization?.startsWith("Basic ") && atob(a.authorization.slice(6)).startsWith(key.key));
      expect(answered.map((a) => a.status)).toEqual(requests.map(() => 200));
      // Each batch one request. The SDK may have two batches on the way at once, and their answers
      // can come back in either order: the day's count after the last decided is the lowest.
      expect(Math.min(...answered.map((a) => Number(a.remainingDay)))).toBe(1_000_000 - requests.length);
      expect(requests.length).toBeLessThan(25);
    }, 60_000);

    it("RudderStack @rudderstack/rudder-sdk-node (Basic, /v1/batch, gzip): every event exactly once, decompressed for the origin", async () => {
      const key = await publicKey();
      const { default: Analytics } = await import("@rudderstack/rudder-sdk-node");
      const client = new Analytics(key.key, { dataPlaneUrl: proxy.url, flushAt: 10, flushInterval: 500 });
      for (let i = 0; i < 25; i++) client.track({ userId: "u_rs", event: "rudder_event", properties: { i } });
      await client.flush();
      await waitFor(() => eventsAtOrigin(origin.received, key.id).length >= 25, 20_000);

      const events = eventsAtOrigin(origin.received, key.id);
      expectExactlyOnce(events, (e) => e.messageId, 25);
      const requests = origin.received.filter((r) => r.headers["x-composite-key-id"] === key.id);
      expect(requests.every((r) => r.url === "/v1/batch" && r.signature === "valid" && r.headers["content-encoding"] === undefined)).toBe(true);
      expect(JSON.stringify(requests)).not.toContain(key.key);
    }, 60_000);

    it("posthog-node (the key as the body's api_key, /batch/, gzip): every event exactly once, the key taken out of the body", async () => {
      const key = await publicKey();
      const { PostHog } = await import("posthog-node");
      const posthog = new PostHog(key.key, { host: proxy.url, flushAt: 10, flushInterval: 500 });
      for (let i = 0; i < 25; i++) posthog.capture({ distinctId: "u_ph", event: "posthog_event", properties: { i } });
      await posthog.shutdown(30_000);

      const events = eventsAtOrigin(origin.received, key.id);
      expectExactlyOnce(events, (e) => e.uuid, 25);
      const requests = origin.received.filter((r) => r.headers["x-composite-key-id"] === key.id);
      expect(requests.every((r) => r.url === "/batch/" && r.signature === "valid" && r.headers["content-encoding"] === undefined)).toBe(true);
      for (const r of requests) expect(JSON.parse(r.body)).not.toHaveProperty("api_key");
      expect(JSON.stringify(requests)).not.toContain(key.key);
    }, 60_000);

    // Each key allows one request per second (burst 1): the SDKs' batches collide with 429s, and
    // must wait and send again until every event is in, once.
    it.each([
      ["Segment", (key, url) => segmentSender(key, url), (e) => e.messageId],
      ["RudderStack", (key, url) => rudderSender(key, url), (e) => e.messageId],
      ["PostHog", (key, url) => posthogSender(key, url), (e) => e.uuid],
    ])("%s backs off on 429 (rate 1/s, burst 1) and still delivers every event exactly once", async (_, makeSender, idOf) => {
      const key = await publicKey({ rate: 1, burst: 1 });
      const sender = await makeSender(key.key, proxy.url);
      const from = proxy.answers.length;
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < 3; i++) sender.send(round * 3 + i);
        await sender.flushSoon();
      }
      await sender.close();
      await waitFor(() => eventsAtOrigin(origin.received, key.id).length >= 12, 30_000);
      expectExactlyOnce(eventsAtOrigin(origin.received, key.id), idOf, 12);

      const answers = proxy.answers.slice(from);
      const refused = answers.filter((a) => a.status === 429);
      expect(refused.length, "no 429 was drawn: the test did not test backing off").toBeGreaterThan(0);
      for (const r of refused) expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
      // Backing off, not hammering: far fewer attempts than a retry loop without waiting would make.
      expect(answers.length).toBeLessThan(40);
    }, 120_000);
  });

  describe("@composite/sdk from its packed tarball", () => {
    it("the tarball holds the ESM build, the types, README and package.json, and nothing else", () => {
      const listing = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).trim().split("\n").sort();
      expect(listing).toContain("package/dist/composite.js");
      expect(listing).toContain("package/dist/types/index.d.ts");
      expect(listing).toContain("package/README.md");
      expect(listing).toContain("package/package.json");
      expect(listing.filter((f) => !/^package\/(dist\/composite\.js|dist\/types\/\w[\w-]*\.d\.ts|README\.md|package\.json)$/.test(f))).toEqual([]);
      const manifest = JSON.parse(readFileSync(path.join(scratch, "node_modules/@composite/sdk/package.json"), "utf8"));
      expect(manifest).toMatchObject({ name: "@composite/sdk", version: expect.stringMatching(/^\d+\.\d+\.\d+$/), exports: { ".": { types: "./dist/types/index.d.ts" } } });
      expect(manifest.dependencies ?? {}).toEqual({});
    });

    it("from Node in the scratch project: queued events arrive as one gzip batch, once, without the key", async () => {
      const key = await publicKey();
      const script = `
        import { Composite } from "@composite/sdk";
        const composite = new Composite({ apiKey: process.env.KEY, baseUrl: process.env.URL, onError: (e) => { console.error(e.code); process.exitCode = 1; } });
        for (let i = 0; i < 15; i++) composite.track("from_node", { i, padding: "x".repeat(100) }, { userId: "u_node" });
        composite.identify("u_node", { plan: "pro" });
        composite.page("Docs", { path: "/docs" }, { userId: "u_node" });
        await composite.close();
        console.log("closed " + composite.queued);`;
      writeFileSync(path.join(scratch, "send.mjs"), script);
      const out = await new Promise((resolve, reject) =>
        execFile(process.execPath, ["send.mjs"], { cwd: scratch, env: { ...process.env, KEY: key.key, URL: proxy.url }, timeout: 30_000 }, (error, stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout + stderr),
        ),
      );
      expect(out).toBe("closed 0\n");
      const sent = proxy.answers.filter((a) => a.authorization === `Bearer ${key.key}`);
      expect(sent.map((a) => [a.path, a.status, a.encoding])).toEqual([["/v1/batch", 200, "gzip"]]);
      const requests = origin.received.filter((r) => r.headers["x-composite-key-id"] === key.id);
      expect(requests).toHaveLength(1);
      expect(requests[0]).toMatchObject({ url: "/v1/batch", signature: "valid" });
      expect(requests[0].headers["content-encoding"]).toBeUndefined();
      const events = eventsAtOrigin(origin.received, key.id);
      expectExactlyOnce(events, (e) => e.message_id, 17);
      expect(events.map((e) => e.type)).toEqual([...Array(15).fill("track"), "identify", "page"]);
      expect(JSON.stringify(requests)).not.toContain(key.key);
    }, 60_000);

    it("the types resolve in a TypeScript project that installed the tarball", () => {
      writeFileSync(
        path.join(scratch, "check.ts"),
        `import { Composite, CompositeError, type CompositeOptions } from "@composite/sdk";
         const options: CompositeOptions = { apiKey: "pk_test_x", flushAt: 5, onError: (error: CompositeError, events) => void events.length };
         const c = new Composite(options);
         c.track("e", { a: 1 }, { userId: "u" });
         const done: Promise<void> = c.close();
         // @ts-expect-error track takes a name first
         c.track({ event: "e" });
         void done;`,
      );
      writeFileSync(
        path.join(scratch, "tsconfig.json"),
        JSON.stringify({ compilerOptions: { strict: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", lib: ["es2022", "dom"], types: [], noEmit: true }, files: ["check.ts"] }),
      );
      const tsc = path.join(ROOT, "node_modules/typescript/bin/tsc");
      const run = () => {
        try {
          execFileSync(process.execPath, [tsc, "-p", "."], { cwd: scratch, encoding: "utf8" });
          return "ok";
        } catch (error) {
          return `${error.stdout}${error.stderr}`; // tsc reports on stdout
        }
      };
      expect(run()).toBe("ok");
      // And it can fail: a wrong option type is caught through the package's types.
      writeFileSync(path.join(scratch, "check.ts"), `import { Composite } from "@composite/sdk"; new Composite({ flushAt: "5" });`);
      expect(run()).toMatch(/^check\.ts\(1,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
    }, 60_000);

    describe("in chromium (Debian chromium, playwright-core), from a page of another origin", () => {
      let browser;

      beforeAll(async () => {
        browser = await launchBrowser();
      }, 60_000);

      afterAll(async () => {
        await browser?.close();
      });

      it("flush() through CORS; then events queued when the page is hidden go with keepalive, once", async (ctx) => {
        ctx.skip(!HAVE_BROWSER, NO_BROWSER_NOTE);
        const key = await publicKey();
        const context = await browser.newContext();
        const page = await context.newPage();
        const problems = [];
        page.on("pageerror", (error) => problems.push(String(error)));
        await page.goto(`${origin.url}/page.html`);
        // A string, not a function: vitest would rewrite the import() inside a function for Node.
        const outcome = await page.evaluate(`(async () => {
          const { Composite } = await import("/composite.js");
          const errors = [];
          window.composite = new Composite({ apiKey: ${JSON.stringify(key.key)}, baseUrl: ${JSON.stringify(gatewayUrl)}, onError: (e) => errors.push(e.code) });
          window.composite.track("seen_in_browser", { n: 1 });
          await window.composite.flush();
          // Queued, not yet due (flushAt 20, flushInterval 10 s): only the page hide can send these.
          for (let i = 0; i < 5; i++) window.composite.track("before_hide", { i });
          return { errors, queued: window.composite.queued, origin: location.origin };
        })()`);
        expect(outcome).toEqual({ errors: [], queued: 5, origin: origin.url });
        // Leaving the page fires pagehide: the SDK's keepalive fetch outlives the page.
        await page.goto("about:blank");
        await waitFor(() => eventsAtOrigin(origin.received, key.id).length >= 6, 10_000);

        const requests = origin.received.filter((r) => r.headers["x-composite-key-id"] === key.id);
        expect(requests.map((r) => r.headers.origin)).toEqual([origin.url, origin.url]);
        expectExactlyOnce(eventsAtOrigin(origin.received, key.id), (e) => e.message_id, 6);
        expect(eventsAtOrigin(origin.received, key.id).map((e) => e.event)).toEqual(["seen_in_browser", ...Array(5).fill("before_hide")]);
        expect(JSON.stringify(requests)).not.toContain(key.key);
        expect(problems).toEqual([]);
        await context.close();
      }, 60_000);
    });
  });
});

async function waitFor(condition, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (condition()) return;
    await sleep(100);
  }
}

// The three outside SDKs behind one shape for the 429 test: send(i), flushSoon(), close().
async function segmentSender(key, url) {
  const { Analytics } = await import("@segment/analytics-node");
  const analytics = new Analytics({ writeKey: key, host: url, flushAt: 3, flushInterval: 200, maxRetries: 10 });
  return {
    send: (i) => analytics.track({ userId: "u_429", event: "e", properties: { i } }),
    flushSoon: () => sleep(50),
    close: () => analytics.closeAndFlush({ timeout: 60_000 }),
  };
}

async function rudderSender(key, url) {
  const { default: Analytics } = await import("@rudderstack/rudder-sdk-node");
  const client = new Analytics(key, { dataPlaneUrl: url, flushAt: 3, flushInterval: 200, retryCount: 10 });
  return {
    send: (i) => client.track({ userId: "u_429", event: "e", properties: { i } }),
    flushSoon: () => sleep(50),
    close: () => client.flush(),
  };
}

async function posthogSender(key, url) {
  const { PostHog } = await import("posthog-node");
  const posthog = new PostHog(key, { host: url, flushAt: 3, flushInterval: 200, fetchRetryCount: 10, fetchRetryDelay: 500 });
  return {
    send: (i) => posthog.capture({ distinctId: "u_429", event: "e", properties: { i } }),
    flushSoon: () => sleep(50),
    close: () => posthog.shutdown(60_000),
  };
}
