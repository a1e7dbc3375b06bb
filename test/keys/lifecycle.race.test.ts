/**
 * Races on a key's lifecycle (issue 12), through the Worker's own fetch. A key's mutable state
 * has two writers — its D1 row and its KeyLimiter object — and no request may leave them
 * disagreeing, resurrect a revoked key, or lose one of two concurrent changes.
 *
 * Each test runs TRIALS trials on a fresh key, issuing the competing requests together
 * (Promise.all, so they interleave in workerd), and checks after every trial:
 *  - D1 and the object agree on the key (expectAgreement);
 *  - a revoked key is refused on its next request with 401 revoked_api_key;
 *  - every answer was one the contract allows (never a 500);
 *  - for two PATCHes: the final state is exactly one request's (never mixed), or both changes
 *    landed when they touched different fields.
 * Problems are counted over all trials and reported together in the failure message, with the
 * first few examples, so one run says how often each race goes wrong.
 */
import { describe, expect, it } from "vitest";
import type { KeyState } from "../../src/keys/key-state";
import { env, expectAgreement, gateway, limiterState, mintKey, newProject, operator, recordedState, withKey } from "../helpers";

const TRIALS = 100;
const PATCH_LOOPS = 3;
const PATCHES_PER_LOOP = 3;
const LIMIT_CHANGES = 3;
const MAX_EXAMPLES = 5;

/** Up to this many ms of random delay before a competing request (a request takes a few ms here). */
const JITTER_MS = 3;

/**
 * How a trial starts its competing requests: odd trials all at once (in workerd this gives one
 * interleaving, the same every time); in even trials each request, at random, either at once or
 * after a random 0…JITTER_MS ms, so that the trials cover many interleavings, not just one.
 */
const spreadOf = (trial: number) => (trial % 2 === 1 ? 0 : JITTER_MS);

async function jittered<T>(spread: number, request: () => Promise<T>): Promise<T> {
  if (spread > 0 && Math.random() < 0.5) await new Promise((resolve) => setTimeout(resolve, Math.random() * spread));
  return request();
}

interface Answer {
  status: number;
  code: string | null;
  body: Record<string, unknown> | null;
}

async function answerOf(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: Record<string, unknown> | null = null;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON: status alone tells
  }
  return { status: res.status, code: typeof body?.code === "string" ? body.code : null, body };
}

const show = (answer: Answer) => `${answer.status}${answer.code === null ? "" : ` ${answer.code}`}`;
const isRevokedRefusal = (answer: Answer) => answer.status === 401 && answer.code === "revoked_api_key";

function manage(key: string, method: string, path: string, body?: unknown): Promise<Answer> {
  return gateway(path, withKey(key, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { "content-type": "application/json" } })).then(answerOf);
}

/** A request a secret key of this test may make (projects:read). */
const secretProbe = (key: string) => gateway("/v1/api_keys", withKey(key)).then(answerOf);
/** A request a public key may make. */
const publicProbe = (key: string, origin?: string) =>
  gateway("/v1/events", withKey(key, { method: "POST", body: '{"event":"page_view"}', headers: origin === undefined ? {} : { origin } })).then(answerOf);

/** Problems per trial, counted over the whole test and reported in one message. */
class Tally {
  private readonly problems = new Map<string, Set<number>>();
  private readonly notes = new Map<string, number>();
  private readonly examples: string[] = [];

  constructor(private readonly name: string) {}

  fail(problem: string, trial: number, example?: string): void {
    const trials = this.problems.get(problem) ?? new Set<number>();
    trials.add(trial);
    this.problems.set(problem, trials);
    if (example !== undefined && this.examples.length < MAX_EXAMPLES) this.examples.push(`trial ${trial}: ${problem}: ${example}`);
  }

  /** Not a failure: how the races went (to show they did interleave). */
  note(what: string, by = 1): void {
    this.notes.set(what, (this.notes.get(what) ?? 0) + by);
  }

  private failed(): Set<number> {
    const all = new Set<number>();
    for (const trials of this.problems.values()) for (const trial of trials) all.add(trial);
    return all;
  }

  get failedTrials(): number {
    return this.failed().size;
  }

  summary(): string {
    const failed = [...this.failed()];
    const together = failed.filter((trial) => spreadOf(trial) === 0).length;
    const startedTogether = Array.from({ length: TRIALS }, (_, i) => i + 1).filter((trial) => spreadOf(trial) === 0).length;
    const lines = [
      `${this.name}: ${failed.length} of ${TRIALS} trials failed ` +
        `(${together} of the ${startedTogether} started together, ${failed.length - together} of the ${TRIALS - startedTogether} started with random delays)`,
    ];
    for (const [problem, trials] of this.problems) lines.push(`  - ${problem}: ${trials.size} of ${TRIALS} trials`);
    if (this.notes.size > 0) lines.push(`  how the races went: ${[...this.notes].map(([what, n]) => `${what} ${n}`).join("; ")}`);
    if (this.examples.length > 0) lines.push("  first examples:", ...this.examples.map((example) => `    ${example}`));
    return lines.join("\n");
  }

  /** The one assertion of a test: no trial went wrong. */
  assertClean(): void {
    const summary = this.summary();
    console.log(summary);
    expect(this.failedTrials, summary).toBe(0);
  }
}

/** The fields on which D1 and the object differ, for the report. */
function differences(recordedState: KeyState | null, heldState: KeyState | null): string {
  if (recordedState === null || heldState === null) return `D1 ${JSON.stringify(recordedState)} / object ${JSON.stringify(heldState)}`;
  const [recorded, held] = [recordedState as unknown as Record<string, unknown>, heldState as unknown as Record<string, unknown>];
  const fields = new Set([...Object.keys(recorded), ...Object.keys(held)]);
  return [...fields]
    .filter((field) => JSON.stringify(recorded[field]) !== JSON.stringify(held[field]))
    .map((field) => `${field}: D1 ${JSON.stringify(recorded[field])} / object ${JSON.stringify(held[field])}`)
    .join(", ");
}

/** expectAgreement, counted instead of thrown; answers both states. */
async function checkAgreement(tally: Tally, trial: number, keyId: string, what = "key") {
  const [held, recorded] = [await limiterState(keyId), await recordedState(keyId)];
  let agree = true;
  try {
    await expectAgreement(keyId);
  } catch {
    agree = false;
    tally.fail(`D1 and the KeyLimiter object disagree on the ${what}`, trial, `${keyId}: ${differences(recorded, held)}`);
  }
  return { held, recorded, agree };
}

/**
 * After a trial that revoked `keyId`: revoked in D1 and in its object, the two agree, and the
 * key's next request is refused with 401 revoked_api_key. A key the object still holds active
 * (a resurrection) is then revoked again, to report whether a repeat revoke repairs it.
 */
async function checkRevoked(tally: Tally, trial: number, keyId: string, probe: () => Promise<Answer>, revokeAgain: () => Promise<Answer>): Promise<void> {
  const { held, recorded, agree } = await checkAgreement(tally, trial, keyId);
  if (recorded?.status !== "revoked") tally.fail("D1 does not record the key as revoked", trial, `D1 status ${JSON.stringify(recorded?.status)}`);
  const resurrected = recorded?.status === "revoked" && held?.status !== "revoked";
  if (resurrected) tally.fail("RESURRECTED: D1 says revoked, the KeyLimiter object holds it active", trial);
  else if (!agree) tally.fail("stale policy: status agrees, other fields differ between D1 and the object", trial);
  const next = await probe();
  if (!isRevokedRefusal(next)) tally.fail("revoked key NOT refused with 401 revoked_api_key on its next request", trial, `answered ${show(next)}`);
  if (resurrected) {
    const again = await revokeAgain();
    const after = await probe();
    tally.note(isRevokedRefusal(after) ? "repeat revoke repaired a resurrected key" : `repeat revoke (answered ${show(again)}) did NOT repair a resurrected key`);
  }
}

function expectAnswer(tally: Tally, trial: number, request: string, answer: Answer, allowed: ((answer: Answer) => boolean)[]): void {
  if (!allowed.some((ok) => ok(answer))) tally.fail(`unexpected answer to ${request}`, trial, `${show(answer)} ${JSON.stringify(answer.body)}`);
}

const is = (status: number, code?: string) => (answer: Answer) => answer.status === status && (code === undefined || answer.code === code);

describe("key lifecycle races (issue 12): D1 and the KeyLimiter object", () => {
  it("revoke racing PATCHes by the key itself: revoked in both places, refused", async () => {
    const project = await newProject("Race: revoke vs self-PATCH");
    const owner = await mintKey(project, { type: "secret" });
    const tally = new Tally("revoke vs PATCH by the key itself");

    for (let trial = 1; trial <= TRIALS; trial++) {
      const spread = spreadOf(trial);
      const target = await mintKey(project, { type: "secret" }); // unrestricted: may PATCH itself
      const patchLoop = async (loop: number): Promise<Answer[]> => {
        const answers: Answer[] = [];
        for (let i = 0; i < PATCHES_PER_LOOP; i++) {
          const answer = await manage(target.key, "PATCH", `/v1/api_keys/${target.id}`, { label: `trial ${trial} loop ${loop} patch ${i}` });
          answers.push(answer);
          if (answer.status !== 200) break; // revoked under it: 401 (or 409 if it got past admission first)
        }
        return answers;
      };
      const [revoked, ...loops] = await Promise.all([
        jittered(spread, () => manage(owner.key, "DELETE", `/v1/api_keys/${target.id}`)),
        ...Array.from({ length: PATCH_LOOPS }, (_, loop) => jittered(spread, () => patchLoop(loop))),
      ]);
      expectAnswer(tally, trial, "DELETE", revoked, [(a) => a.status === 200 && a.body?.status === "revoked"]);
      for (const answer of loops.flat()) {
        expectAnswer(tally, trial, "PATCH", answer, [is(200), is(401, "revoked_api_key"), is(409, "conflict")]);
        tally.note(`PATCH ${show(answer)}:`);
      }
      await checkRevoked(
        tally,
        trial,
        target.id,
        () => secretProbe(target.key),
        () => manage(owner.key, "DELETE", `/v1/api_keys/${target.id}`),
      );
    }
    tally.assertClean();
  }, 120_000);

  it("revoke racing roll: old key revoked in both places and refused; a roll that won made a working, agreeing key", async () => {
    const project = await newProject("Race: revoke vs roll");
    const owner = await mintKey(project, { type: "secret" });
    const tally = new Tally("revoke vs roll");

    for (let trial = 1; trial <= TRIALS; trial++) {
      const spread = spreadOf(trial);
      const old = await mintKey(project, { type: "public" });
      const [rolled, revoked] = await Promise.all([
        jittered(spread, () => manage(owner.key, "POST", `/v1/api_keys/${old.id}/roll`, { expires_in: 3600 })),
        jittered(spread, () => manage(owner.key, "DELETE", `/v1/api_keys/${old.id}`)),
      ]);
      expectAnswer(tally, trial, "DELETE", revoked, [(a) => a.status === 200 && a.body?.status === "revoked"]);
      expectAnswer(tally, trial, "roll", rolled, [is(201), is(409, "conflict")]);
      tally.note(`roll ${show(rolled)}:`);

      await checkRevoked(
        tally,
        trial,
        old.id,
        () => publicProbe(old.key),
        () => manage(owner.key, "DELETE", `/v1/api_keys/${old.id}`),
      );

      const oldRow = await env.DB.prepare("SELECT rolled_to FROM api_keys WHERE id = ?1").bind(old.id).first<{ rolled_to: string | null }>();
      const successors = await env.DB.prepare("SELECT id FROM api_keys WHERE rolled_from = ?1").bind(old.id).all<{ id: string }>();
      const successorIds = successors.results.map((row) => row.id);
      if (rolled.status === 201) {
        const replacement = rolled.body as { id: string; key: string; status: string; rolled_from: string | null };
        if (oldRow?.rolled_to !== replacement.id || successorIds.join() !== replacement.id || replacement.rolled_from !== old.id) {
          tally.fail("roll answered 201 but D1 does not link the old key to the new one", trial, `old.rolled_to ${oldRow?.rolled_to}, successors [${successorIds}], answered ${replacement.id}`);
        }
        const { recorded } = await checkAgreement(tally, trial, replacement.id, "new key");
        if (recorded?.status !== "active") tally.fail("the new key of a roll is not active in D1", trial, `status ${JSON.stringify(recorded?.status)}`);
        const works = await publicProbe(replacement.key);
        if (works.status !== 200) tally.fail("the new key of a roll does not work", trial, `answered ${show(works)}`);
      } else if (rolled.status === 409) {
        if (oldRow?.rolled_to !== null || successorIds.length > 0) {
          tally.fail("roll answered 409 but D1 shows a roll", trial, `old.rolled_to ${oldRow?.rolled_to}, successors [${successorIds}]`);
        }
      }
    }
    tally.assertClean();
  }, 120_000);

  it("revoke racing operator limit changes: revoked in both places, refused", async () => {
    const project = await newProject("Race: revoke vs limits");
    const tally = new Tally("revoke vs operator limit changes");

    for (let trial = 1; trial <= TRIALS; trial++) {
      const spread = spreadOf(trial);
      const target = await mintKey(project, { type: "public" });
      const [revoked, ...changed] = await Promise.all([
        jittered(spread, () => operator("DELETE", `/keys/${target.id}`).then(answerOf)),
        ...Array.from({ length: LIMIT_CHANGES }, (_, i) =>
          jittered(spread, () => operator("PUT", `/keys/${target.id}/limits`, { rate: 10 + i, burst: 100 + i, daily: 10_000 + i }).then(answerOf)),
        ),
      ]);
      expectAnswer(tally, trial, "operator DELETE", revoked, [(a) => a.status === 200 && a.body?.status === "revoked"]);
      for (const answer of changed) {
        // 200 (limits of a revoked key are still recorded) or 409 if the key is refused as revoked.
        expectAnswer(tally, trial, "operator PUT limits", answer, [is(200), is(409, "conflict")]);
        tally.note(`PUT limits ${show(answer)}:`);
      }
      await checkRevoked(
        tally,
        trial,
        target.id,
        () => publicProbe(target.key),
        () => operator("DELETE", `/keys/${target.id}`).then(answerOf),
      );
    }
    tally.assertClean();
  }, 120_000);

  it("two PATCHes of the same fields: the final state is exactly one of them, in D1 and in the object", async () => {
    const project = await newProject("Race: PATCH vs PATCH");
    const owner = await mintKey(project, { type: "secret" });
    const tally = new Tally("PATCH vs PATCH (same fields)");
    const A = { label: "A", scopes: ["events:read"] };
    const B = { label: "B", scopes: ["users:read", "users:write"] };
    const sorted = (list: unknown) => (Array.isArray(list) ? [...(list as string[])].sort().join(",") : JSON.stringify(list));

    for (let trial = 1; trial <= TRIALS; trial++) {
      const spread = spreadOf(trial);
      const target = await mintKey(project, { type: "secret" });
      const [a, b] = await Promise.all([
        jittered(spread, () => manage(owner.key, "PATCH", `/v1/api_keys/${target.id}`, A)),
        jittered(spread, () => manage(owner.key, "PATCH", `/v1/api_keys/${target.id}`, B)),
      ]);
      expectAnswer(tally, trial, "PATCH A", a, [is(200)]);
      expectAnswer(tally, trial, "PATCH B", b, [is(200)]);

      const row = await env.DB.prepare("SELECT label, scopes FROM api_keys WHERE id = ?1").bind(target.id).first<{ label: string; scopes: string | null }>();
      const scopes = row?.scopes == null ? null : (JSON.parse(row.scopes) as string[]);
      const final = [A, B].find((patch) => patch.label === row?.label && sorted(patch.scopes) === sorted(scopes));
      if (final === undefined) tally.fail("MIXED: D1's label and scopes are not from the same PATCH", trial, `label ${JSON.stringify(row?.label)}, scopes ${JSON.stringify(scopes)}`);
      else tally.note(`D1 ended as ${final.label}:`);

      const { held, agree } = await checkAgreement(tally, trial, target.id);
      if (!agree && final !== undefined && sorted(held?.scopes) !== sorted(final.scopes)) {
        tally.fail("LOST UPDATE: the object enforces the other PATCH's scopes, not the ones D1 records", trial, `D1 ${final.label}, object scopes ${JSON.stringify(held?.scopes)}`);
      }

      // What the key can do follows D1's record: A reads events, B reads users.
      if (final !== undefined) {
        const [exportAnswer, usersAnswer] = [await gateway("/v1/export", withKey(target.key)).then(answerOf), await gateway("/v1/users", withKey(target.key)).then(answerOf)];
        const expected = final === A ? ["200", "403 insufficient_permissions"] : ["403 insufficient_permissions", "200"];
        if (show(exportAnswer) !== expected[0] || show(usersAnswer) !== expected[1]) {
          tally.fail("the key does not behave as D1 records", trial, `D1 ${final.label}: GET /v1/export ${show(exportAnswer)}, GET /v1/users ${show(usersAnswer)}`);
        }
      }
    }
    tally.assertClean();
  }, 120_000);

  it("two PATCHes of different fields of a public key: both changes land, in D1 and in the object", async () => {
    const project = await newProject("Race: PATCH label vs PATCH origins");
    const owner = await mintKey(project, { type: "secret" });
    const tally = new Tally("PATCH label vs PATCH allowed_origins (different fields)");
    const ORIGINS = ["https://b.example"];

    for (let trial = 1; trial <= TRIALS; trial++) {
      const spread = spreadOf(trial);
      const target = await mintKey(project, { type: "public" });
      const label = `renamed in trial ${trial}`;
      const [labelled, restricted] = await Promise.all([
        jittered(spread, () => manage(owner.key, "PATCH", `/v1/api_keys/${target.id}`, { label })),
        jittered(spread, () => manage(owner.key, "PATCH", `/v1/api_keys/${target.id}`, { allowed_origins: ORIGINS })),
      ]);
      expectAnswer(tally, trial, "PATCH label", labelled, [is(200)]);
      expectAnswer(tally, trial, "PATCH allowed_origins", restricted, [is(200)]);

      const row = await env.DB.prepare("SELECT label, allowed_origins FROM api_keys WHERE id = ?1").bind(target.id).first<{ label: string; allowed_origins: string | null }>();
      const origins = row?.allowed_origins == null ? null : (JSON.parse(row.allowed_origins) as string[]);
      if (row?.label !== label) tally.fail("LOST UPDATE: the label change is missing from D1", trial, `label ${JSON.stringify(row?.label)}`);
      if (JSON.stringify(origins) !== JSON.stringify(ORIGINS)) tally.fail("LOST UPDATE: the allowed_origins change is missing from D1", trial, `allowed_origins ${JSON.stringify(origins)}`);

      const { held } = await checkAgreement(tally, trial, target.id);
      if (JSON.stringify(held?.allowedOrigins) !== JSON.stringify(ORIGINS)) {
        tally.fail("LOST UPDATE: the object does not enforce the new allowed_origins", trial, `object allowedOrigins ${JSON.stringify(held?.allowedOrigins)}`);
      }

      // Both changes in force: another origin is refused, the allowed one admitted.
      const [elsewhere, allowed] = [await publicProbe(target.key, "https://other.example"), await publicProbe(target.key, ORIGINS[0])];
      if (!is(403, "origin_not_allowed")(elsewhere) || allowed.status !== 200) {
        tally.fail("the key does not enforce its new allowed_origins", trial, `other origin ${show(elsewhere)}, allowed origin ${show(allowed)}`);
      }
    }
    tally.assertClean();
  }, 120_000);
});
