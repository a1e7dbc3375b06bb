/**
 * The baseline: a bare Hono app that forwards every request to the origin (bare-forward.ts).
 * No auth, no limiter, no log.
 */
import { Hono } from "hono";
import { forwardBare, type OriginEnv } from "./bare-forward";

const app = new Hono<{ Bindings: OriginEnv }>();

app.all("*", (c) => forwardBare(c.req.raw, c.env));

export default app;
