/**
 * The limiter client: everything outside the KeyLimiter object that talks to it. The hot path
 * asks `admitKey` (one question: may this key make this request now?); the key lifecycle sends
 * `changeKey`. Behind these two sit the object's stub, this isolate's memory of a key's 429s
 * (refusal-memory.ts), the deadline, and the failure policy; callers see none of them.
 */
import type { Env } from "../config";
import { configOf } from "../config";
import { TIMED_OUT, within, type Deadline } from "../http/deadline";
import type { KeyFacts } from "../keys/key-index";
import type { KeyState } from "../keys/key-state";
import { PUBLIC_KEY_SCOPES } from "../policy/authorize";
import type { RouteRule } from "../policy/routes";
import { readDecision, type AdmitDecision, type ChangeOutcome, type KeyChange, type KeyLimiter } from "./key-limiter";
import {
  admittedAfterRefusal,
  claimReport,
  forgetRefusals,
  isLimitRefusal,
  recallRefusal,
  refusalSlot,
  rememberedUntil,
  rememberRefusal,
  reportDone,
  returnRefused,
  settleRefusal,
  takeRefused,
} from "./refusal-memory";

export { rateLimitHeaders, setRateLimitHeaders, type RateSnapshot } from "./headers";
export type { AdmitDecision, ChangeOutcome, KeyChange } from "./key-limiter";

/** After a refusal memory ends, how long the next admit has to carry its count before a report does. */
const REPORT_GRACE_MS = 100;

export type Admitted = Extract<AdmitDecision, { ok: true }> | { ok: true; scopes: readonly string[]; rate: null };
export type Refused = Extract<AdmitDecision, { ok: false }>;
/** The limiter could not answer and the route fails closed. */
export type Unavailable = { ok: false; unavailable: true };

export function keyLimiter(env: Env, keyId: string): DurableObjectStub<KeyLimiter> {
  return (env.KEY_LIMITER as unknown as DurableObjectNamespace<KeyLimiter>).getByName(keyId);
}

/**
 * May this key make this request now? One Durable Object round trip — skipped while this isolate
 * remembers the key's 429 and the object would repeat it (refusal-memory.ts). When the key's
 * limiter cannot be reached in time, routes of a fail-open class (LIMITER_FAIL_OPEN) go through
 * and are counted once the limiter is back (`rate` null: no headers to give); all others are
 * `unavailable`.
 */
export async function admitKey(
  env: Env,
  waitUntil: (promise: Promise<unknown>) => void,
  facts: KeyFacts,
  route: RouteRule,
  origin: string | null,
  deadline: Deadline,
): Promise<Admitted | Refused | Unavailable> {
  const slot = refusalSlot(facts.keyId, route.permission, origin);
  const repeated = recallRefusal(slot, facts.keyId, Date.now());
  if (repeated !== undefined) {
    if (claimReport(facts.keyId)) waitUntil(reportRefusedLater(env, facts.keyId, rememberedUntil(slot) ?? Date.now()));
    return repeated;
  }
  const refusedMeanwhile = takeRefused(facts.keyId);
  try {
    const answer = await within(deadline, askLimiter(env, facts.keyId, route, origin, refusedMeanwhile));
    if (answer !== TIMED_OUT) {
      const decision = readDecision(answer);
      if (isLimitRefusal(decision)) rememberRefusal(slot, decision);
      else if (decision.ok) admittedAfterRefusal(slot, decision.rate);
      else settleRefusal(slot);
      return decision;
    }
  } catch {
    // Unreachable or overloaded: the failure policy below, as for one that did not answer in time.
  }
  settleRefusal(slot);
  returnRefused(facts.keyId, refusedMeanwhile);
  if (!configOf(env).failOpenClasses.has(route.class)) return { ok: false, unavailable: true };
  waitUntil(countLater(env, facts.keyId, Date.now()));
  // What the key may do is unknown without its limiter: the origin is told no more than the route needed.
  const scopes = facts.type === "public" ? PUBLIC_KEY_SCOPES : [route.permission];
  return { ok: true, scopes, rate: null };
}

/** The KeyLimiter's answer, to be read with readDecision. */
function askLimiter(env: Env, keyId: string, route: RouteRule, origin: string | null, refusedMeanwhile: number): Promise<string> {
  return keyLimiter(env, keyId).admit({
    keyId,
    need: { permission: route.permission, publicKey: route.publicKey, action: route.action },
    origin,
    refusedMeanwhile,
  });
}

/**
 * Requests refused by this isolate's memory reach the key's count with its next admit; if none
 * comes once the memory is over, this reports them.
 */
async function reportRefusedLater(env: Env, keyId: string, until: number): Promise<void> {
  try {
    await scheduler.wait(Math.max(0, until - Date.now()) + REPORT_GRACE_MS);
    const count = takeRefused(keyId);
    if (count === 0) return;
    try {
      await keyLimiter(env, keyId).recordRefused(count, Date.now());
    } catch {
      returnRefused(keyId, count); // the key's next admit takes them
    }
  } finally {
    reportDone(keyId);
  }
}

/** Best effort: one retry a second later, so the daily count includes the unmetered request. */
async function countLater(env: Env, keyId: string, at: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1000));
  try {
    await keyLimiter(env, keyId).recordUnmetered(1, at);
  } catch {
    console.error(JSON.stringify({ level: "error", msg: "unmetered request not counted", key_id: keyId }));
  }
}

/**
 * Sends one change to the key's object, the one writer of its state, and answers what it did.
 * This isolate's memory of the key's 429s goes at once, so its next request here asks the
 * object (other isolates' memories end within their cap, see refusal-memory.ts).
 */
export async function changeKey(env: Env, change: KeyChange): Promise<ChangeOutcome> {
  try {
    return await keyLimiter(env, change.keyId).change(change);
  } finally {
    forgetRefusals(change.keyId);
  }
}

/** Hands a just-created key's state to its object (it would otherwise read D1 on first use). */
export async function adoptKeyState(env: Env, state: KeyState): Promise<void> {
  await keyLimiter(env, state.keyId).adopt(state);
}

/** What the key's object holds for it (null: nothing yet). */
export async function heldKeyState(env: Env, keyId: string): Promise<KeyState | null> {
  return (await keyLimiter(env, keyId).heldState()) as KeyState | null;
}
