/**
 * The limiter client: everything outside the KeyLimiter object that talks to it. The hot path
 * asks `admitKey` (one question: may this key make this request now?); the key lifecycle sends
 * `changeKey`. Behind these two sit the object's stub, this isolate's token leases for hot keys'
 * event ingestion (leases.ts), its memory of a key's 429s (refusal-memory.ts), the deadline and
 * the failure policy; callers see none of them.
 */
import type { Env } from "../config";
import { configOf } from "../config";
import { TIMED_OUT, within, type Deadline } from "../http/deadline";
import type { KeyFacts } from "../keys/key-index";
import type { KeyState } from "../keys/key-state";
import type { RateSnapshot } from "./headers";
import { PUBLIC_KEY_SCOPES, type Need } from "../policy/authorize";
import type { RouteRule } from "../policy/routes";
import { gaveUp, readDecision, type AdmitDecision, type AdmitRequest, type ChangeOutcome, type KeyChange, type KeyLimiter, type RenewAnswer } from "./key-limiter";
import { isRevokedRefusal, knownRevoked, rememberRevoked } from "./revoked-keys";
import {
  admitFromLease,
  askedLease,
  dropLease,
  endLeasesBefore,
  endRenewal,
  grantedBeforeChange,
  mayLendHere,
  heldLease,
  leaseToAsk,
  holdLease,
  leaseAfterGrant,
  LEASE_THRESHOLD,
  tokensOnTheirWay,
  needsRenewal,
  noteTraffic,
  renewalLostAt,
  renewalUnderWay,
  startRenewal,
  tokensWanted,
  useLease,
  type HeldLease,
  type LeaseGrant,
  type LeaseUse,
} from "./leases";
import { claimSender, nextReport, noteUnmetered, reportCounted, senderDone, unmeteredRequests, withdrawUnmetered } from "./unmetered";
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
/** How often a request waiting for a lease's tokens on their way looks whether they have come. */
const LEASE_POLL_MS = 2;
/** Waits before each attempt to count unmetered requests (fail-open) with the key's object: 27 s in all. */
const UNMETERED_RETRY_MS = [1000, 2000, 4000, 8000, 12_000];

export type Admitted = Extract<AdmitDecision, { ok: true }> | { ok: true; scopes: readonly string[]; rate: null };
export type Refused = Extract<AdmitDecision, { ok: false }>;
/** The limiter could not answer and the route fails closed. */
export type Unavailable = { ok: false; unavailable: true };

export function keyLimiter(env: Env, keyId: string): DurableObjectStub<KeyLimiter> {
  return (env.KEY_LIMITER as unknown as DurableObjectNamespace<KeyLimiter>).getByName(keyId);
}

/**
 * May this key make this request now? One Durable Object round trip — skipped for a key this
 * isolate knows revoked (revoked-keys.ts), for a hot key's events admitted from a token lease
 * (leases.ts; the lease is asked for with this call and renewed in the background), and while this
 * isolate remembers the key's 429 and the object would repeat it (refusal-memory.ts). When the key's
 * limiter cannot be reached in time, routes of a fail-open class (LIMITER_FAIL_OPEN) go through
 * and are counted once the limiter is back (`rate` null: no headers to give), while this isolate
 * has room to hold their count (unmetered.ts); all others are `unavailable`.
 */
export async function admitKey(
  env: Env,
  waitUntil: (promise: Promise<unknown>) => void,
  facts: KeyFacts,
  route: RouteRule,
  origin: string | null,
  deadline: Deadline,
): Promise<Admitted | Refused | Unavailable> {
  const revoked = knownRevoked(facts.keyId);
  if (revoked !== undefined) return revoked;
  const need = { permission: route.permission, publicKey: route.publicKey, action: route.action };
  const leaseMs = route.leased ? configOf(env).leaseMs : 0;
  let askLease: { leaseId: string; want: number } | undefined;
  if (leaseMs > 0) {
    const now = Date.now();
    const perSecond = noteTraffic(facts.keyId, now);
    let lease = heldLease(facts.keyId);
    if (lease !== undefined && now >= lease.usableUntil && !renewalUnderWay(lease, now)) {
      dropLease(facts.keyId, lease.leaseId);
      waitUntil(reportFinal(env, lease));
      lease = undefined;
    }
    if (lease !== undefined) {
      const used = useLease(lease, need, origin, now);
      if (needsRenewal(lease, now, leaseMs)) waitUntil(renewLease(env, lease, tokensWanted(perSecond, leaseMs), waitUntil));
      if (used !== undefined) return used;
      const renewed = await useTokensOnTheirWay(facts.keyId, need, origin, deadline);
      if (renewed !== undefined) return renewed;
    } else if (perSecond >= LEASE_THRESHOLD) {
      const leaseId = leaseToAsk(facts.keyId, now);
      if (leaseId !== undefined) askLease = { leaseId, want: tokensWanted(perSecond, leaseMs) };
      else {
        const granted = await useTokensOnTheirWay(facts.keyId, need, origin, deadline);
        if (granted !== undefined) return granted;
      }
    }
  }
  const slot = refusalSlot(facts.keyId, route.permission, origin);
  const repeated = recallRefusal(slot, facts.keyId, Date.now());
  if (repeated !== undefined) {
    if (claimReport(facts.keyId)) waitUntil(reportRefusedLater(env, facts.keyId, rememberedUntil(slot) ?? Date.now()));
    return repeated;
  }
  const refusedMeanwhile = takeRefused(facts.keyId);
  // A 429 that a lease held or on its way here may yet overturn is counted here, once it stands.
  const countsOwnRefusal = leaseMs > 0 && mayLendHere(facts.keyId);
  const askedAt = Date.now();
  let unanswered: Promise<string> | undefined;
  try {
    const call = askLimiter(env, facts.keyId, need, origin, refusedMeanwhile, askLease, countsOwnRefusal, answerBy(deadline));
    const answer = await within(deadline, call).finally(() => {
      if (askLease !== undefined) askedLease(facts.keyId);
    });
    if (answer === TIMED_OUT) unanswered = call;
    // An object that decided past answerBy counted nothing: as if it had not answered in time.
    const decision = answer === TIMED_OUT ? undefined : readDecision(answer);
    if (decision !== undefined && !gaveUp(decision)) {
      if (decision.ok) {
        admittedAfterRefusal(slot, decision.rate);
        if (decision.lease === undefined) return decision;
        keepLease(env, facts.keyId, decision.lease, askedAt, waitUntil);
        return { ok: true, scopes: decision.scopes, rate: decision.rate };
      }
      if (countsOwnRefusal && isLimitRefusal(decision)) {
        // The tokens the object lacked may be the ones it lent this very isolate a moment ago. The
        // object left this 429 uncounted (countsRefusal): counted here only if it stands.
        const lease = heldLease(facts.keyId);
        const used = lease === undefined ? undefined : admitFromLease(lease, need, origin, Date.now());
        if (used !== undefined) return used;
        returnRefused(facts.keyId, 1);
        if (claimReport(facts.keyId)) waitUntil(reportRefusedLater(env, facts.keyId, Date.now()));
      }
      if (isLimitRefusal(decision)) rememberRefusal(slot, decision);
      else settleRefusal(slot);
      if (isRevokedRefusal(decision)) rememberRevoked(facts.keyId, decision);
      return decision;
    }
  } catch {
    // Unreachable or overloaded: the failure policy below, as for one that did not answer in time.
  }
  settleRefusal(slot);
  returnRefused(facts.keyId, refusedMeanwhile);
  if (!configOf(env).failOpenClasses.has(route.class)) return { ok: false, unavailable: true };
  const at = Date.now();
  if (!noteUnmetered(facts.keyId, at)) return { ok: false, unavailable: true };
  if (unanswered !== undefined) waitUntil(unlessCountedLate(env, unanswered, facts.keyId, at, askedAt));
  if (claimSender(facts.keyId)) waitUntil(countUnmeteredLater(env, facts.keyId));
  // What the key may do is unknown without its limiter: the origin is told no more than the route needed.
  const scopes = facts.type === "public" ? PUBLIC_KEY_SCOPES : [route.permission];
  return { ok: true, scopes, rate: null };
}

/**
 * This request answered from the lease another request here is asking for or renewing, once its
 * tokens come; undefined if none come (refused, lost, or this request's time is up): ask the object.
 * A burst on a key turning hot, or on a lease run dry while its renewal is on the way, would
 * otherwise send every request in flight to the key's object. Polls plain data: awaiting the
 * other request's own promise is what workerd forbids across requests.
 */
async function useTokensOnTheirWay(keyId: string, need: Need, origin: string | null, deadline: Deadline): Promise<LeaseUse | undefined> {
  if (!tokensOnTheirWay(keyId, Date.now())) return undefined;
  do await scheduler.wait(LEASE_POLL_MS);
  while (tokensOnTheirWay(keyId, Date.now()) && !deadline.passed);
  const lease = heldLease(keyId);
  return lease === undefined ? undefined : useLease(lease, need, origin, Date.now());
}

/**
 * The answer of a call this request stopped waiting for: an object that decided in time
 * (before answerBy) counted the request, though its answer came too late, so the request is no
 * longer noted as unmetered — unless its report has been sent already (then it counts twice). A
 * lease it grants is given back unused: nobody here took it. Waited for until the report's first
 * sending: later, taking the request back would be too late anyway.
 */
async function unlessCountedLate(env: Env, call: Promise<string>, keyId: string, at: number, askedAt: number): Promise<void> {
  // A call lost (it throws) or still unanswered: whether the object counted it is unknown, and the report stands.
  const lost = () => undefined;
  const decision = await Promise.race([call.then(readDecision, lost), scheduler.wait(UNMETERED_RETRY_MS[0]!).then(lost)]);
  if (decision === undefined || !decision.ok) return;
  if (!withdrawUnmetered(keyId, at)) {
    console.error(JSON.stringify({ level: "error", msg: "late limiter answer after its unmetered report: counted twice", key_id: keyId }));
  }
  if (decision.lease !== undefined) await reportFinal(env, leaseAfterGrant(keyId, undefined, decision.lease, askedAt));
}

/**
 * Holds a granted lease, and reports it unused at once if this isolate already holds another or
 * has since changed the key (the grant was made under its old version).
 */
function keepLease(env: Env, keyId: string, grant: LeaseGrant, askedAt: number, waitUntil: (promise: Promise<unknown>) => void): void {
  const current = heldLease(keyId);
  if ((current !== undefined && current.leaseId !== grant.leaseId) || grantedBeforeChange(keyId, grant)) {
    waitUntil(reportFinal(env, leaseAfterGrant(keyId, undefined, grant, askedAt))); // a new lease: nothing used
    return;
  }
  const lease = holdLease(keyId, grant, askedAt);
  waitUntil(settleWhenExpired(env, lease.keyId, lease.leaseId));
}

/**
 * Reports what this isolate did with its lease and asks for the next LEASE_MS (inside one
 * request's waitUntil; at most one at a time per lease). A lease the object will not renew (the
 * key changed, or it has nothing to lend) is dropped here at once and reported as final.
 */
async function renewLease(env: Env, lease: HeldLease, want: number, waitUntil: (promise: Promise<unknown>) => void): Promise<void> {
  const sentAt = Date.now();
  if (!startRenewal(lease, sentAt)) return;
  let answer: RenewAnswer;
  try {
    answer = JSON.parse(await keyLimiter(env, lease.keyId).renewLease(reportOf(lease, want, false))) as RenewAnswer;
  } catch {
    // Kept until it expires, then reported as final: the settling scheduled with the grant may
    // have found this renewal under way and left it to this one.
    endRenewal(lease, sentAt);
    waitUntil(settleWhenExpired(env, lease.keyId, lease.leaseId));
    return;
  }
  endRenewal(lease, sentAt);
  if (heldLease(lease.keyId) !== lease) return; // dropped meanwhile: whoever dropped it reports it as final
  if (answer.granted) {
    holdLease(lease.keyId, answer, sentAt);
    waitUntil(settleWhenExpired(env, lease.keyId, lease.leaseId));
    return;
  }
  if (answer.revoked !== undefined) rememberRevoked(lease.keyId, answer.revoked);
  const dropped = dropLease(lease.keyId, lease.leaseId);
  if (dropped !== undefined) await reportFinal(env, dropped);
}

/**
 * Once a lease's time is up and nothing renewed it, drops it here and reports it as final. A
 * renewal under way may yet extend it: waited for until it answers or is taken as lost, as a
 * renewal whose call never settles would otherwise keep the lease unreported here for good.
 */
async function settleWhenExpired(env: Env, keyId: string, leaseId: string): Promise<void> {
  const lease = heldLease(keyId);
  if (lease === undefined || lease.leaseId !== leaseId) return;
  let settleAt = lease.usableUntil;
  for (;;) {
    await scheduler.wait(Math.max(0, settleAt - Date.now()) + 10);
    const now = heldLease(keyId);
    if (now === undefined || now.leaseId !== leaseId || Date.now() < now.usableUntil) return; // renewed meanwhile: its renewal settles it
    settleAt = renewalLostAt(now);
    if (Date.now() >= settleAt) break;
  }
  const dropped = dropLease(keyId, leaseId);
  if (dropped !== undefined) await reportFinal(env, dropped);
}

/** The lease's last report: what it admitted and refused, and that it will not be used again. */
async function reportFinal(env: Env, lease: HeldLease): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await keyLimiter(env, lease.keyId).renewLease(reportOf(lease, 0, true));
      return;
    } catch {
      await scheduler.wait(500 * (attempt + 1));
    }
  }
  console.error(JSON.stringify({ level: "error", msg: "lease report lost", key_id: lease.keyId, admitted: lease.used, refused: lease.refused }));
}

function reportOf(lease: HeldLease, want: number, final: boolean) {
  return { keyId: lease.keyId, leaseId: lease.leaseId, usedTotal: lease.used, refusedTotal: lease.refused, want, final };
}

/**
 * When the object must have decided for its answer to be used: the deadline less the answer's way
 * back (a quarter of the wait, at most a second). A call that lands later, after this request let
 * itself through unmetered or answered 503, then counts nothing — or its request would be counted
 * twice, or counted though refused. Both clocks are the platform's, synchronised far closer than
 * that margin at the default ORIGIN_TIMEOUT_MS.
 */
function answerBy(deadline: Deadline): number {
  return deadline.endsAt - Math.min(1000, Math.floor(deadline.ms / 4));
}

/** The KeyLimiter's answer, to be read with readDecision. */
function askLimiter(
  env: Env,
  keyId: string,
  need: Need,
  origin: string | null,
  refusedMeanwhile: number,
  lease: { leaseId: string; want: number } | undefined,
  countsOwnRefusals: boolean,
  answerBy: number,
): Promise<string> {
  const request: AdmitRequest = { keyId, need, origin, refusedMeanwhile, answerBy };
  if (lease !== undefined) request.lease = lease;
  if (countsOwnRefusals) request.callerCountsRefusal = true;
  return keyLimiter(env, keyId).admit(request);
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

/**
 * Sends the key's unmetered requests (unmetered.ts) to its object once it can be reached again:
 * first a second after the request that started it, then backing off, for 27 s in all — inside
 * the 30 s a request's waitUntil may run. Whatever is still unsent then waits in this isolate for
 * the key's next unmetered request, which starts a new sender.
 */
async function countUnmeteredLater(env: Env, keyId: string): Promise<void> {
  try {
    for (const wait of UNMETERED_RETRY_MS) {
      await scheduler.wait(wait);
      for (let report = nextReport(keyId); report !== undefined; report = nextReport(keyId)) {
        try {
          await keyLimiter(env, keyId).recordUnmetered(report.requests, report.at, report.id);
        } catch {
          break; // still unreachable: the same report again after the next wait
        }
        reportCounted(keyId, report);
      }
      if (unmeteredRequests(keyId) === 0) return;
    }
    console.error(JSON.stringify({ level: "error", msg: "unmetered requests not counted yet", key_id: keyId, requests: unmeteredRequests(keyId) }));
  } finally {
    senderDone(keyId);
  }
}

/**
 * Gives back what an admission made at `admittedAt` took, for a request refused after it (see
 * KeyLimiter.giveBack): the key's limits after that, or null when its object could not be reached
 * — then the token stays spent, and the log says so.
 */
export async function giveBack(env: Env, keyId: string, admittedAt: number): Promise<RateSnapshot | null> {
  try {
    return JSON.parse(await keyLimiter(env, keyId).giveBack(keyId, admittedAt)) as RateSnapshot | null;
  } catch {
    console.error(JSON.stringify({ level: "error", msg: "admission of a refused request not given back", key_id: keyId }));
    return null;
  }
}

/**
 * Sends one change to the key's object, the one writer of its state, and answers what it did.
 * This isolate's memory of the key's 429s goes at once, so its next request here asks the
 * object (other isolates' memories end within their cap, see refusal-memory.ts).
 */
export async function changeKey(env: Env, change: KeyChange): Promise<ChangeOutcome> {
  // This isolate stops using its lease at once; the change ends everyone else's at their next renewal.
  const lease = dropLease(change.keyId);
  try {
    const outcome = await keyLimiter(env, change.keyId).change(change);
    const version = inForceAt(outcome);
    const grantedMeanwhile = version === undefined ? undefined : endLeasesBefore(change.keyId, version);
    if (grantedMeanwhile !== undefined) await reportFinal(env, grantedMeanwhile);
    return outcome;
  } finally {
    forgetRefusals(change.keyId);
    if (lease !== undefined) await reportFinal(env, lease);
  }
}

/** The version a change put in force, if it did: a revoke D1 failed to record is in force too. */
function inForceAt(outcome: ChangeOutcome): number | undefined {
  if (outcome.ok) return outcome.state.version;
  return outcome.refused === "unrecorded" && outcome.inForce ? outcome.version : undefined;
}

/** Hands a just-created key's state to its object (it would otherwise read D1 on first use). */
export async function adoptKeyState(env: Env, state: KeyState): Promise<void> {
  await keyLimiter(env, state.keyId).adopt(state);
}

/** What the key's object holds for it (null: nothing yet). */
export async function heldKeyState(env: Env, keyId: string): Promise<KeyState | null> {
  return (await keyLimiter(env, keyId).heldState()) as KeyState | null;
}
