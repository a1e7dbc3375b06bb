/**
 * The body limit (MAX_BODY_BYTES, 1 MiB) on the gateway's own APIs: a body over it is 413
 * payload_too_large whether its length is declared or it is sent chunked (no Content-Length),
 * exactly as on forwarded routes — and nothing is created.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { env, expectProblem, gateway, OPERATOR_TOKEN, projectWithKeys, withKey, type MintedKey } from "../helpers";

const MiB = 1024 * 1024;

/** A JSON object of about `bytes` bytes, sent in 64 KiB chunks with no Content-Length. */
function chunkedJson(bytes: number): ReadableStream<Uint8Array> {
  // {"name":"chunked","padding":"…"} is 31 bytes around the padding: exactly `bytes` long.
  const whole = new TextEncoder().encode(JSON.stringify({ name: "chunked", padding: "x".repeat(Math.max(0, bytes - 31)) }));
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= whole.byteLength) return controller.close();
      controller.enqueue(whole.slice(offset, offset + 64 * 1024));
      offset += 64 * 1024;
    },
  });
}

const projectCount = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM projects").first<{ n: number }>())!.n;
const keyCount = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys").first<{ n: number }>())!.n;

let admin: MintedKey;
beforeAll(async () => {
  ({ secretKey: admin } = await projectWithKeys());
});

describe("operator API", () => {
  const post = (body: BodyInit) =>
    gateway("/_operator/projects", { method: "POST", headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, "content-type": "application/json" }, body });

  it("a chunked body past 1 MiB is 413, nothing created", async () => {
    const before = await projectCount();
    await expectProblem(await post(chunkedJson(MiB + 1)), 413, "payload_too_large", OPERATOR_TOKEN);
    expect(await projectCount()).toBe(before);
  });

  it("a declared Content-Length past 1 MiB is 413", async () => {
    await expectProblem(await post(JSON.stringify({ name: "x".repeat(MiB) })), 413, "payload_too_large");
  });

  it("a chunked body within the limit, up to exactly 1 MiB, is read as usual", async () => {
    const exact = await post(chunkedJson(MiB));
    expect(exact.status, await exact.clone().text()).toBe(400); // read whole: `padding` is not a field
    const res = await post(chunkedJson(1000));
    expect(res.status, await res.clone().text()).toBe(400); // read whole: `padding` is not a field
    expect(((await res.json()) as { detail: string }).detail).toContain("padding");
  });
});

describe("key management API", () => {
  const create = (body: BodyInit) => gateway("/v1/api_keys", withKey(admin.key, { method: "POST", headers: { "content-type": "application/json" }, body }));

  it("a chunked body past 1 MiB is 413, nothing created, nothing taken from the key's bucket", async () => {
    const before = await keyCount();
    const res = await create(chunkedJson(MiB + 1));
    await expectProblem(res, 413, "payload_too_large", admin.key);
    expect(res.headers.get("x-ratelimit-remaining")).toBeNull(); // refused before the key was looked at
    expect(await keyCount()).toBe(before);
  });

  it("PATCH and roll too", async () => {
    for (const [method, path] of [["PATCH", `/v1/api_keys/${admin.id}`], ["POST", `/v1/api_keys/${admin.id}/roll`]] as const) {
      const res = await gateway(path, withKey(admin.key, { method, headers: { "content-type": "application/json" }, body: chunkedJson(2 * MiB) }));
      await expectProblem(res, 413, "payload_too_large", admin.key);
    }
  });

  it("a chunked body within the limit is read as usual", async () => {
    const res = await create(chunkedJson(1000));
    expect(res.status, await res.clone().text()).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toContain("padding");
  });
});
