// A small client for the gateway's operator API (/_operator/*), shared by `npm run keys`
// (cli/keys.mjs) and `npm run dev` (scripts/dev.mjs). No dependencies: Node's fetch only.

import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The project root (the directory holding package.json and wrangler.jsonc). */
export const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));
/** The developer's own .dev.vars, in the project root (what wrangler dev reads by default). */
export const DEV_VARS_PATH = fileURLToPath(new URL("../.dev.vars", import.meta.url));

/**
 * COMPOSITE_DEV_DIR=<dir> makes `npm run dev` keep everything it generates under <dir> instead of
 * the project (used by the tests; see scripts/dev.mjs). The absolute dir, or null when unset.
 * A relative path is taken from the current directory.
 */
export function isolatedDevDir(env = process.env) {
  return env.COMPOSITE_DEV_DIR ? path.resolve(env.COMPOSITE_DEV_DIR) : null;
}

/** The .dev.vars that `npm run dev` uses: <COMPOSITE_DEV_DIR>/.dev.vars, else the project's. */
export function devVarsPathFor(env = process.env) {
  const dir = isolatedDevDir(env);
  return dir ? path.join(dir, ".dev.vars") : DEV_VARS_PATH;
}

/**
 * Hosts that never leave the machine: localhost and its subdomains, 127.0.0.0/8 and [::1] — the
 * gateway's own rule (src/http/loopback.ts, which a node test holds this to), written out here so
 * the CLI runs on any Node without TypeScript.
 */
export function isLoopbackHost(hostname) {
  return (
    hostname === "localhost" ||
    hostname.endsWith(".localhost") ||
    hostname === "[::1]" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}

/** Whether a gateway URL is on this machine (a URL that does not parse is not). */
export function isLoopbackUrl(url) {
  try {
    return isLoopbackHost(new URL(url).hostname);
  } catch {
    return false;
  }
}

/**
 * Why the operator token must not go to this URL, or null: plain HTTP to a host off this machine
 * would carry the token in the clear (the gateway refuses it with 403 https_required, but only
 * after it has crossed the network).
 */
export function insecureGatewayUrl(url) {
  const { protocol, host } = new URL(url);
  if (protocol === "https:" || (protocol === "http:" && isLoopbackUrl(url))) return null;
  if (protocol !== "http:") return `the gateway URL must start with https:// (or http:// for this machine), got ${protocol}//${host}`;
  return `refusing to send the operator token over plain HTTP to ${host}; use https://${host}`;
}

export function defaultGatewayUrl(env = process.env) {
  return `http://127.0.0.1:${env.PORT || 8787}`;
}

/** Parses a .dev.vars / .env file: NAME=value lines, # comments, optional quotes. */
export function parseDevVars(text) {
  const vars = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) continue;
    let value = match[2];
    const quote = value[0];
    if ((quote === '"' || quote === "'" || quote === "`") && value.length >= 2 && value.endsWith(quote)) {
      value = value.slice(1, -1);
      if (quote === '"') value = value.replace(/\\n/g, "\n");
    } else {
      value = value.replace(/\s+#.*$/, ""); // trailing comment on an unquoted value
    }
    vars[match[1]] = value;
  }
  return vars;
}

export function readDevVars(file = DEV_VARS_PATH) {
  return existsSync(file) ? parseDevVars(readFileSync(file, "utf8")) : null;
}

/**
 * The operator token for the gateway at `gatewayUrl`: OPERATOR_TOKEN from the environment, else —
 * for a gateway on this machine only — from .dev.vars (<COMPOSITE_DEV_DIR>/.dev.vars when that
 * is set); null when neither applies. The local token is for the local gateway: sending it to
 * whatever --url names would hand it to any host that asks. `path` is the file it came from.
 */
export function findOperatorToken(gatewayUrl, env = process.env, devVarsPath = devVarsPathFor(env)) {
  if (env.OPERATOR_TOKEN) return { token: env.OPERATOR_TOKEN, source: "OPERATOR_TOKEN" };
  if (!isLoopbackUrl(gatewayUrl)) return null;
  const vars = readDevVars(devVarsPath);
  if (vars?.OPERATOR_TOKEN) return { token: vars.OPERATOR_TOKEN, source: ".dev.vars", path: devVarsPath };
  return null;
}

/** The gateway answered with an error (problem+json when the gateway produced it). */
export class OperatorApiError extends Error {
  constructor(status, body, text) {
    super(body?.detail || body?.title || `HTTP ${status}`);
    this.name = "OperatorApiError";
    this.status = status;
    this.body = body; // parsed JSON, or null
    this.text = text; // raw response text
  }
}

/** Nothing answered at the URL (connection refused, DNS failure, reset...). */
export class GatewayUnreachableError extends Error {
  constructor(url, cause) {
    super(`cannot reach the gateway at ${url}${cause?.code ? ` (${cause.code})` : ""}`);
    this.name = "GatewayUnreachableError";
    this.url = url;
    this.code = cause?.code;
    this.cause = cause;
  }
}

export function createOperatorClient({ baseUrl = defaultGatewayUrl(), token, fetch: fetchImpl = fetch } = {}) {
  const base = baseUrl.replace(/\/+$/, "");
  const insecure = insecureGatewayUrl(base);
  if (insecure !== null) throw new Error(insecure);

  async function request(method, path, body) {
    const headers = { accept: "application/json, application/problem+json" };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let response;
    try {
      response = await fetchImpl(base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      if (error?.name === "TimeoutError") throw new GatewayUnreachableError(base, { code: "timeout" });
      throw new GatewayUnreachableError(base, error?.cause ?? error);
    }
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // not JSON; keep the text
    }
    if (!response.ok) throw new OperatorApiError(response.status, json, text);
    return json;
  }

  const id = (value) => encodeURIComponent(value);
  return {
    baseUrl: base,
    request,
    health: () => request("GET", "/_operator/health"),
    createProject: (name) => request("POST", "/_operator/projects", { name }),
    listProjects: () => request("GET", "/_operator/projects"),
    getProject: (projectId) => request("GET", `/_operator/projects/${id(projectId)}`),
    /** body: {plan: "free"|"pro"|"enterprise"} or {plan: "custom", limits: {public?: {rate?, burst?, daily?}, secret?: {…}}} */
    setPlan: (projectId, body) => request("PUT", `/_operator/projects/${id(projectId)}/plan`, body),
    /** body: {project_id, type, environment, label, scopes?, expires_at?, allowed_origins?} */
    createKey: (body) => request("POST", "/_operator/keys", body),
    listKeys: (projectId) => request("GET", `/_operator/keys?project_id=${id(projectId)}`),
    getKey: (keyId) => request("GET", `/_operator/keys/${id(keyId)}`),
    revokeKey: (keyId) => request("DELETE", `/_operator/keys/${id(keyId)}`),
    /** changes: {label?, scopes?, allowed_origins?}; null scopes = unrestricted, null origins = any */
    updateKey: (keyId, changes) => request("PATCH", `/_operator/keys/${id(keyId)}`, changes),
    rollKey: (keyId, expiresInSeconds) => request("POST", `/_operator/keys/${id(keyId)}/roll`, { expires_in: expiresInSeconds }),
    /** range: {from?, to?} UTC days, YYYY-MM-DD */
    projectUsage: (projectId, { from, to } = {}) =>
      request("GET", `/_operator/usage?project_id=${id(projectId)}${from ? `&from=${id(from)}` : ""}${to ? `&to=${id(to)}` : ""}`),
    keyUsage: (keyId, days) => request("GET", `/_operator/keys/${id(keyId)}/usage${days === undefined ? "" : `?days=${days}`}`),
    /** limits: {rate?, burst?, daily?} */
    setLimits: (keyId, limits) => request("PUT", `/_operator/keys/${id(keyId)}/limits`, limits),
  };
}
