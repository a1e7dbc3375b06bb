/**
 * A property of the key lifecycle through the real runtime (issue 12): random sequences of
 * lifecycle operations — update, set limits, roll, revoke — sent in concurrent batches through
 * the Worker's own fetch (management API with the project's owner key, operator API for limits).
 * After every batch the outcome must be explained by SOME order of the batch's operations
 * applied one at a time to a small model of the key (linearizability): every answer's status as
 * that order gives it, and the key's state in D1 as that order leaves it. D1 and the key's object
 * always agree, and a revoked key stays revoked.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { KeyState } from "../../src/keys/key-state";
import { expectAgreement, expectProblem, gateway, mintKey, newProject, operator, recordedState, withKey, type MintedKey } from "../helpers";

type Op =
  | { kind: "update"; label: string; scopes?: string[] | null }
  | { kind: "limits"; rate: number | null }
  | { kind: "roll" }
  | { kind: "revoke" };

interface Model {
  revoked: boolean;
  label: string;
  scopes: string[] | null;
  rate: number | null;
  rolled: boolean;
}

interface Expected {
  status: number;
  /** For an admitted roll: the settings the new key must have been given. */
  successor?: Pick<Model, "label" | "scopes" | "rate">;
}

function step(model: Model, op: Op): { model: Model; expected: Expected } {
  if (op.kind === "revoke") return { model: { ...model, revoked: true }, expected: { status: 200 } };
  if (model.revoked) return { model, expected: { status: 409 } };
  switch (op.kind) {
    case "update":
      return { model: { ...model, label: op.label, scopes: op.scopes === undefined ? model.scopes : op.scopes }, expected: { status: 200 } };
    case "limits":
      return { model: { ...model, rate: op.rate }, expected: { status: 200 } };
    case "roll":
      if (model.rolled) return { model, expected: { status: 409 } };
      return { model: { ...model, rolled: true }, expected: { status: 201, successor: { label: model.label, scopes: model.scopes, rate: model.rate } } };
  }
}

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

interface Sent {
  status: number;
  body: Record<string, unknown>;
}

async function send(owner: MintedKey, target: MintedKey, op: Op): Promise<Sent> {
  const manage = (method: string, path: string, body?: unknown) =>
    gateway(path, withKey(owner.key, { method, headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) }));
  let res: Response;
  switch (op.kind) {
    case "update":
      res = await manage("PATCH", `/v1/api_keys/${target.id}`, op.scopes === undefined ? { label: op.label } : { label: op.label, scopes: op.scopes });
      break;
    case "limits":
      res = await operator("PUT", `/keys/${target.id}/limits`, { rate: op.rate });
      break;
    case "roll":
      res = await manage("POST", `/v1/api_keys/${target.id}/roll`, { expires_in: 3600 });
      break;
    case "revoke":
      res = await manage("DELETE", `/v1/api_keys/${target.id}`);
      break;
  }
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const matches = (model: Model, state: KeyState) =>
  (state.status === "revoked") === model.revoked &&
  state.label === model.label &&
  JSON.stringify(state.scopes) === JSON.stringify(model.scopes) &&
  state.limits.rate === model.rate &&
  (state.rolledTo !== null) === model.rolled;

const sameSettings = (state: KeyState, settings: Pick<Model, "label" | "scopes" | "rate">) =>
  state.label === settings.label && JSON.stringify(state.scopes) === JSON.stringify(settings.scopes) && state.limits.rate === settings.rate;

const scopeLists = [["events:read"], ["users:read", "users:write"], ["events:write", "projects:read"]];
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("update" as const), label: fc.constantFrom("a", "b", "c"), scopes: fc.option(fc.option(fc.constantFrom(...scopeLists), { nil: null }), { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("limits" as const), rate: fc.constantFrom(1, 10, 100, null) }) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: "roll" }) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: "revoke" }) },
);

describe("key lifecycle, property through the Worker", () => {
  it("concurrent batches of operations are explained by one order each; D1 and the object agree; revoked stays revoked", async () => {
    const project = await newProject("Lifecycle property");
    const owner = await mintKey(project, { type: "secret" });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(op, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 5 }), async (batches) => {
        const target = await mintKey(project, { type: "secret" });
        let model: Model = { revoked: false, label: "test key", scopes: null, rate: null, rolled: false };
        for (const batch of batches) {
          const sent = await Promise.all(batch.map((each) => send(owner, target, each)));
          const state = await expectAgreement(target.id);
          // A roll that answered 201 made a new key: it must hold the old key's settings as they were at the roll, whole.
          const successors = new Map<number, KeyState>();
          for (const [i, answer] of sent.entries()) {
            if (batch[i]!.kind === "roll" && answer.status === 201) {
              const successor = await expectAgreement(answer.body.id as string);
              expect(state.rolledTo).toBe(successor.keyId);
              successors.set(i, successor);
            }
          }
          const order = permutations(batch.map((each, i) => ({ each, i }))).find((candidate) => {
            let next = model;
            for (const { each, i } of candidate) {
              const stepped = step(next, each);
              if (stepped.expected.status !== sent[i]!.status) return false;
              const successor = successors.get(i);
              if (successor !== undefined && !sameSettings(successor, stepped.expected.successor!)) return false;
              next = stepped.model;
            }
            return matches(next, state);
          });
          expect(order, `no order of ${JSON.stringify(batch)} explains ${JSON.stringify(sent.map((s) => s.status))} and ${JSON.stringify(state)}`).toBeDefined();
          for (const { each } of order!) model = step(model, each).model;
          if (model.revoked) expect((await recordedState(target.id))?.status).toBe("revoked");
        }
        if (model.revoked) await expectProblem(await gateway("/v1/api_keys", withKey(target.key)), 401, "revoked_api_key", target.key);
      }),
      { numRuns: 30 },
    );
  }, 120_000);
});
