/**
 * Reading the gateway's `RateLimit` and `RateLimit-Policy` headers (API.md §3,
 * draft-ietf-httpapi-ratelimit-headers: structured-field lists) to slow down *before* a 429:
 * when the policy closest to exhaustion has no whole token left, the next send waits for one.
 * Pure; a header it cannot read counts as absent (never a reason to wait).
 */

interface Member {
  name: string;
  params: Map<string, number>;
}

/** `"burst";r=0;t=10, "daily";q=…` → members with their integer parameters. */
function parseList(header: string): Member[] {
  const members: Member[] = [];
  for (const part of header.split(",")) {
    const [item, ...params] = part.split(";").map((piece) => piece.trim());
    const name = /^"([^"\\]*)"$/.exec(item ?? "")?.[1] ?? item;
    if (name === undefined || name === "") continue;
    const values = new Map<string, number>();
    for (const param of params) {
      const match = /^([a-z*][a-z0-9_.*-]*)=(-?\d{1,15})$/.exec(param);
      if (match) values.set(match[1]!, Number(match[2]));
    }
    members.push({ name, params: values });
  }
  return members;
}

/**
 * Milliseconds until the bucket named in `RateLimit` holds a whole token again, 0 when it holds
 * one now (or the headers say nothing usable). One token takes t / (q − r) seconds: `t` is the
 * time until the bucket is full, `q` its size (from `RateLimit-Policy`).
 */
export function waitForToken(rateLimit: string | null, policy: string | null): number {
  if (rateLimit === null) return 0;
  const current = parseList(rateLimit)[0];
  const remaining = current?.params.get("r");
  const reset = current?.params.get("t");
  if (current === undefined || remaining === undefined || reset === undefined || remaining > 0) return 0;
  const quota = policy === null ? undefined : parseList(policy).find((member) => member.name === current.name)?.params.get("q");
  if (quota === undefined || quota <= 0) return Math.max(0, reset) * 1000;
  return Math.ceil((Math.max(0, reset) * 1000) / quota);
}
