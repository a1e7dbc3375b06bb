/**
 * The contract's headers with no Durable Object call: the pass-through that answers as API.md
 * says (contract-bucket.ts's headers, constant values) and asks no object for the request. It is
 * the most a gateway can reach that admits a hot key's requests from a token lease, keeping the
 * contract's headers: the `hotkey` scenario's ceiling, as `contract` is the gateway's.
 */
import { Hono } from "hono";
import { forwardBare, type Amend, type OriginEnv } from "./bare-forward";
import { amendments } from "./contract-bucket";

interface HeadersEnv extends OriginEnv {
  ORIGIN_SIGNING_SECRET: string;
}

const app = new Hono<{ Bindings: HeadersEnv }>();
let amend: Amend | undefined;

app.all("*", (c) => {
  amend ??= amendments(c.env.ORIGIN_SIGNING_SECRET);
  return forwardBare(c.req.raw, c.env, amend);
});

export default app;
