/**
 * applyOperation (keys/key-state.ts), the rules the key's object applies one change at a time.
 * Unit cases for each operation, and a fast-check property: any sequence of operations gives the
 * state a small, separate model of a key gives, the version counts the changes, and a revoked key
 * stays revoked whatever follows.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { applyOperation, beyondCeiling, overridesWithin, sameState, type Ceiling, type KeyOperation, type KeyState } from "../../src/keys/key-state";
import { SCOPES, type Scope } from "../../src/policy/routes";
import { defaultKeyPlan, PLANS } from "../../src/policy/plans";

const NOW = Date.parse("2026-12-02T12:00:00Z");

const secretKey: KeyState = {
  keyId: "key_a",
  projectId: "proj_a",
  type: "secret",
  environment: "test",
  version: 1,
  status: "active",
  revokedAt: null,
  label: "server",
  scopes: null,
  allowedOrigins: null,
  expiresAt: null,
  limits: { rate: null, burst: null, daily: null },
  plan: defaultKeyPlan("secret"),
  rolledTo: null,
};

function apply(state: KeyState, op: KeyOperation, within?: readonly string[]) {
  return applyOperation(state, op, NOW, within);
}

describe("applyOperation", () => {
  it("revoke: revoked at `now`, one version more; again: unchanged, same version", () => {
    const once = apply(secretKey, { kind: "revoke" });
    expect(once).toMatchObject({ ok: true, changed: true, state: { status: "revoked", revokedAt: new Date(NOW).toISOString(), version: 2 } });
    const twice = apply(once.ok ? once.state : secretKey, { kind: "revoke" });
    expect(twice).toMatchObject({ ok: true, changed: false, state: { status: "revoked", version: 2 } });
  });

  it("nothing but a revoke changes a revoked key", () => {
    const revoked: KeyState = { ...secretKey, status: "revoked", revokedAt: "2026-12-01T00:00:00.000Z" };
    for (const op of [
      { kind: "update", label: "x" },
      { kind: "limits", limits: { rate: 1 } },
      { kind: "expire", at: NOW + 1000 },
      { kind: "roll", to: "key_b", expiresAt: NOW + 1000 },
    ] satisfies KeyOperation[]) {
      expect(apply(revoked, op)).toEqual({ ok: false, refused: "revoked" });
    }
  });

  it("update changes only the fields it names; null clears, undefined keeps", () => {
    const scoped = apply(secretKey, { kind: "update", scopes: ["events:read"] });
    expect(scoped).toMatchObject({ ok: true, changed: true, state: { label: "server", scopes: ["events:read"], version: 2 } });
    const relabelled = apply(scoped.ok ? scoped.state : secretKey, { kind: "update", label: "renamed" });
    expect(relabelled).toMatchObject({ ok: true, state: { label: "renamed", scopes: ["events:read"], version: 3 } });
    const cleared = apply(relabelled.ok ? relabelled.state : secretKey, { kind: "update", scopes: null });
    expect(cleared).toMatchObject({ ok: true, state: { scopes: null, version: 4 } });
  });

  it("an operation that changes nothing keeps the version", () => {
    expect(apply(secretKey, { kind: "update", label: "server" })).toEqual({ ok: true, changed: false, state: secretKey });
    expect(apply(secretKey, { kind: "limits", limits: {} })).toEqual({ ok: true, changed: false, state: secretKey });
  });

  it("limits: undefined keeps a limit, null restores the default", () => {
    const set = apply(secretKey, { kind: "limits", limits: { rate: 5, daily: 100 } });
    expect(set).toMatchObject({ ok: true, state: { limits: { rate: 5, burst: null, daily: 100 } } });
    const reset = apply(set.ok ? set.state : secretKey, { kind: "limits", limits: { rate: null } });
    expect(reset).toMatchObject({ ok: true, state: { limits: { rate: null, burst: null, daily: 100 } } });
  });

  it("expire and roll never move an expiry later", () => {
    const expiring = { ...secretKey, expiresAt: NOW + 60_000 };
    expect(apply(expiring, { kind: "expire", at: NOW + 120_000 })).toMatchObject({ ok: true, changed: false });
    expect(apply(expiring, { kind: "expire", at: NOW + 30_000 })).toMatchObject({ ok: true, state: { expiresAt: NOW + 30_000 } });
    expect(apply(expiring, { kind: "roll", to: "key_b", expiresAt: NOW + 3_600_000 })).toMatchObject({
      ok: true,
      state: { rolledTo: "key_b", expiresAt: NOW + 60_000 },
    });
  });

  it("roll: once; not an expired key (expiry is checked first)", () => {
    const rolled = apply(secretKey, { kind: "roll", to: "key_b", expiresAt: NOW + 1000 });
    expect(rolled).toMatchObject({ ok: true, state: { rolledTo: "key_b", expiresAt: NOW + 1000 } });
    expect(apply(rolled.ok ? rolled.state : secretKey, { kind: "roll", to: "key_c", expiresAt: NOW + 1000 })).toEqual({
      ok: false,
      refused: "already_rolled",
      rolledTo: "key_b",
    });
    expect(apply({ ...secretKey, rolledTo: "key_b", expiresAt: NOW }, { kind: "roll", to: "key_c", expiresAt: NOW + 1000 })).toEqual({
      ok: false,
      refused: "expired",
    });
  });

  it("within: a key that can do more than the caller is not the caller's to change, revoke included", () => {
    const scoped = ["projects:read", "projects:write"];
    expect(apply(secretKey, { kind: "revoke" }, scoped)).toMatchObject({ ok: false, refused: "not_yours", missing: expect.arrayContaining(["admin", "billing:write"]) });
    const narrow: KeyState = { ...secretKey, scopes: ["projects:read"] };
    expect(apply(narrow, { kind: "revoke" }, scoped)).toMatchObject({ ok: true, changed: true });
  });

  it("ceiling: a roll whose replacement (no expiry, the key's limits) would outlive or out-limit the caller is refused, nothing changed", () => {
    const defaults = { rate: 1_000, burst: 10_000, daily: 10_000_000 };
    const roll = (ceiling: Ceiling): KeyOperation => ({ kind: "roll", to: "key_b", expiresAt: NOW + 60_000, ceiling });
    expect(apply(secretKey, roll({ expiresAt: NOW + 86_400_000, limits: defaults }))).toEqual({ ok: false, refused: "beyond_ceiling", beyond: ["expiry"] });
    expect(apply(secretKey, roll({ expiresAt: null, limits: { ...defaults, daily: 5 } }))).toEqual({ ok: false, refused: "beyond_ceiling", beyond: ["daily"] });
    const capped: KeyState = { ...secretKey, limits: { rate: null, burst: null, daily: 5 } };
    expect(apply(capped, roll({ expiresAt: null, limits: { ...defaults, daily: 5 } }))).toMatchObject({ ok: true, changed: true, state: { rolledTo: "key_b" } });
  });
});

describe("ceiling", () => {
  const ceiling: Ceiling = { expiresAt: NOW + 1000, limits: { rate: 50, burst: 5_000, daily: 2_000_000 } };

  it("beyondCeiling names each part above it: a later or no expiry, each higher limit", () => {
    const pub = defaultKeyPlan("public");
    const sec = defaultKeyPlan("secret");
    expect(beyondCeiling({ plan: pub, expiresAt: NOW + 1000, limits: { rate: null, burst: null, daily: null } }, ceiling)).toEqual(["rate"]);
    expect(beyondCeiling({ plan: sec, expiresAt: null, limits: { rate: null, burst: null, daily: null } }, ceiling)).toEqual(["expiry", "rate", "burst", "daily"]);
    expect(beyondCeiling({ plan: sec, expiresAt: NOW + 1001, limits: { rate: 50, burst: 5_000, daily: 2_000_000 } }, ceiling)).toEqual(["expiry"]);
    expect(beyondCeiling({ plan: sec, expiresAt: NOW, limits: { rate: 1, burst: 1, daily: 1 } }, { ...ceiling, expiresAt: null })).toEqual([]);
  });

  it("beyondCeiling judges the limits of the key's plan: a public key on pro is over a ceiling a free one is within", () => {
    const within: Ceiling = { expiresAt: null, limits: PLANS.free.public };
    expect(beyondCeiling({ plan: defaultKeyPlan("public"), expiresAt: null, limits: { rate: null, burst: null, daily: null } }, within)).toEqual([]);
    const pro = { name: "pro" as const, revision: 1, limits: PLANS.pro.public };
    expect(beyondCeiling({ plan: pro, expiresAt: null, limits: { rate: null, burst: null, daily: null } }, within)).toEqual(["rate", "burst", "daily"]);
    expect(beyondCeiling({ plan: pro, expiresAt: null, limits: { rate: 100, burst: 1_000, daily: 1_000_000 } }, within)).toEqual([]);
  });

  it("overridesWithin caps each limit at the ceiling and keeps a plan's default where it is lower already", () => {
    expect(overridesWithin(defaultKeyPlan("public"), ceiling)).toEqual({ rate: 50, burst: null, daily: null });
    expect(overridesWithin(defaultKeyPlan("secret"), ceiling)).toEqual({ rate: 50, burst: 5_000, daily: 2_000_000 });
  });

  it("property: a key with the overrides overridesWithin gives is never beyond the ceiling's limits", () => {
    const limit = fc.integer({ min: 1, max: 20_000_000 });
    fc.assert(
      fc.property(fc.constantFrom("public" as const, "secret" as const), fc.constantFrom("free" as const, "pro" as const, "enterprise" as const), limit, limit, limit, (type, name, rate, burst, daily) => {
        const bound: Ceiling = { expiresAt: null, limits: { rate, burst, daily } };
        const plan = { name, revision: 1, limits: PLANS[name][type] };
        expect(beyondCeiling({ plan, expiresAt: null, limits: overridesWithin(plan, bound) }, bound)).toEqual([]);
      }),
      { numRuns: 10_000 },
    );
  });
});

// ---- property: against a small model of a key

interface Model {
  revoked: boolean;
  label: string;
  scopes: Scope[] | null;
  rate: number | null;
  expiresAt: number | null;
  rolledTo: string | null;
  /** The plan revision held: only a newer one is taken. */
  planRevision: number;
  changes: number;
}

/** The model's own reading of each operation, written without looking at applyOperation. */
function modelApply(model: Model, op: KeyOperation): Model | "refused" {
  if (model.revoked) return op.kind === "revoke" ? model : "refused";
  switch (op.kind) {
    case "revoke":
      return { ...model, revoked: true, changes: model.changes + 1 };
    case "update": {
      const next = { ...model, label: op.label ?? model.label, scopes: op.scopes === undefined ? model.scopes : op.scopes };
      const same = next.label === model.label && JSON.stringify(next.scopes) === JSON.stringify(model.scopes);
      return same ? model : { ...next, changes: model.changes + 1 };
    }
    case "limits": {
      const rate = op.limits.rate === undefined ? model.rate : op.limits.rate;
      return rate === model.rate ? model : { ...model, rate, changes: model.changes + 1 };
    }
    case "expire": {
      const expiresAt = model.expiresAt === null ? op.at : Math.min(model.expiresAt, op.at);
      return expiresAt === model.expiresAt ? model : { ...model, expiresAt, changes: model.changes + 1 };
    }
    case "roll": {
      if (model.expiresAt !== null && model.expiresAt <= NOW) return "refused";
      if (model.rolledTo !== null) return "refused";
      const expiresAt = model.expiresAt === null ? op.expiresAt : Math.min(model.expiresAt, op.expiresAt);
      return { ...model, rolledTo: op.to, expiresAt, changes: model.changes + 1 };
    }
    case "plan":
      return op.plan.revision > model.planRevision ? { ...model, planRevision: op.plan.revision, changes: model.changes + 1 } : model;
  }
}

const scopeList = fc.uniqueArray(fc.constantFrom(...SCOPES), { minLength: 1, maxLength: 3 });
const operation: fc.Arbitrary<KeyOperation> = fc.oneof(
  fc.constant<KeyOperation>({ kind: "revoke" }),
  fc.record({ kind: fc.constant("update" as const), label: fc.option(fc.constantFrom("a", "b", "c"), { nil: undefined }), scopes: fc.option(fc.option(scopeList, { nil: null }), { nil: undefined }) }),
  fc.record({ kind: fc.constant("limits" as const), limits: fc.record({ rate: fc.option(fc.constantFrom(1, 10, 100), { nil: null }) }) }),
  fc.record({ kind: fc.constant("expire" as const), at: fc.integer({ min: NOW - 1000, max: NOW + 10_000 }) }),
  fc.record({ kind: fc.constant("roll" as const), to: fc.constantFrom("key_b", "key_c"), expiresAt: fc.integer({ min: NOW - 1000, max: NOW + 10_000 }) }),
  // Plan changes arriving in any order, repeated or late.
  fc
    .tuple(fc.integer({ min: 0, max: 6 }), fc.constantFrom("free" as const, "pro" as const, "enterprise" as const))
    .map(([revision, name]): KeyOperation => ({ kind: "plan", plan: { name, revision, limits: PLANS[name].secret } })),
);

describe("applyOperation, property", () => {
  it("any sequence: state as the model says, version = 1 + changes, revoked stays revoked", () => {
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 30 }), (ops) => {
        let state = secretKey;
        let model: Model = { revoked: false, label: "server", scopes: null, rate: null, expiresAt: null, rolledTo: null, planRevision: 0, changes: 0 };
        let everRevoked = false;
        for (const op of ops) {
          const applied = apply(state, op);
          const expected = modelApply(model, op);
          if (expected === "refused") {
            expect(applied.ok).toBe(false);
            continue;
          }
          expect(applied.ok).toBe(true);
          if (!applied.ok) return;
          expect(applied.changed).toBe(expected.changes !== model.changes);
          state = applied.state;
          model = expected;
          everRevoked ||= state.status === "revoked";
          expect(state.status === "revoked").toBe(model.revoked);
          expect(everRevoked).toBe(state.status === "revoked");
          expect(state.plan.revision).toBe(model.planRevision);
          expect({ label: state.label, scopes: state.scopes, rate: state.limits.rate, expiresAt: state.expiresAt, rolledTo: state.rolledTo }).toEqual({
            label: model.label,
            scopes: model.scopes,
            rate: model.rate,
            expiresAt: model.expiresAt,
            rolledTo: model.rolledTo,
          });
          expect(state.version).toBe(1 + model.changes);
          expect(sameState(state, { ...state, version: 99 })).toBe(true);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
