/**
 * From a presented key to the immutable facts about it: key id, project, type, environment.
 *
 * Stored shape: KV `key:<hash>` → KeyFacts as JSON, where hash = hex HMAC-SHA-256(KEY_HASH_SECRET,
 * key). Only the hash is ever stored; it is never logged or returned. KV holds nothing that can
 * change (status, scopes, expiry live in the key's KeyLimiter object), so entries never go stale.
 *
 * Lookup order: isolate memory → KV → D1 by hash. D1 is the record of truth and catches a key
 * created a second ago whose KV entry has not reached this location yet (or whose absence KV has
 * cached); a D1 hit refills KV in the background. KV failing is not the request's failure: a
 * read that fails goes to D1 as a miss does, and a refill that fails is dropped. Only when D1
 * cannot answer either is the request refused: 503 storage_unavailable.
 */
import { configOf, type Env } from "../config";
import { hmacSha256Hex } from "../crypto/hmac";
import { GatewayError } from "../http/problem";
import type { KeyEnvironment, KeyType } from "./format";

export interface KeyFacts {
  keyId: string;
  projectId: string;
  type: KeyType;
  environment: KeyEnvironment;
}

export const kvKeyName = (hash: string) => `key:${hash}`;

/** hex HMAC-SHA-256(KEY_HASH_SECRET, key): the only form in which a key is stored or looked up. */
export function hashKey(secret: string, key: string): Promise<string> {
  return hmacSha256Hex(secret, key);
}

/**
 * Isolate memory cache, key → facts (or null for a key no record has). It is keyed by the key
 * as presented so that a hit costs no HMAC; it lives only in this isolate's memory, next to the
 * requests that carried those keys, and is never logged or written anywhere. Both answers are
 * safe to keep: facts never change, and a key that is unknown now is one nobody was given (keys
 * are random and shown only after their record is written). Bounded; the oldest entry goes first.
 */
const MAX_CACHED = 10_000;
const cache = new Map<string, KeyFacts | null>();

function remember(key: string, facts: KeyFacts | null): void {
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
  cache.set(key, facts);
}

interface KeyRow {
  id: string;
  project_id: string;
  type: KeyType;
  environment: KeyEnvironment;
}

/**
 * This isolate's answer for a key it has looked up before: its facts, null for a key no record
 * has, undefined if it has not seen the key. Only well-formed keys are ever looked up, so a key
 * found here needs no format check either.
 */
export function cachedKey(key: string): KeyFacts | null | undefined {
  return cache.get(key);
}

/**
 * The facts of a well-formed key, from this isolate's cache, KV or D1; null for an unknown key.
 * `beforeRecordLookup` runs when neither the cache nor KV knows the key, just before D1 is asked:
 * the failed-auth guard refuses there, so that a blocked address keeps its valid keys (found in
 * KV) but no longer costs a D1 query per made-up key.
 */
export async function lookupKey(
  env: Env,
  key: string,
  waitUntil: (promise: Promise<unknown>) => void,
  beforeRecordLookup: () => void = () => {},
): Promise<KeyFacts | null> {
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  const hash = await hashKey(configOf(env).keyHashSecret, key);

  const fromKv = await readKv(env, hash);
  if (fromKv !== null && fromKv !== KV_UNREACHABLE) {
    remember(key, fromKv);
    return fromKv;
  }
  // With KV unreachable, KV cannot vouch for a valid key: D1 is asked whatever the address did.
  if (fromKv === null) beforeRecordLookup();
  const row = await readRecord(env, hash);
  const facts = row === null ? null : { keyId: row.id, projectId: row.project_id, type: row.type, environment: row.environment };
  remember(key, facts);
  if (facts !== null) waitUntil(refillKv(env, hash, facts));
  return facts;
}

/**
 * The key's D1 record by hash. D1 failing here is not an unknown key (no failed attempt is
 * counted) nor an internal error: 503 storage_unavailable, which clients retry.
 */
async function readRecord(env: Env, hash: string): Promise<KeyRow | null> {
  try {
    return await env.DB.prepare("SELECT id, project_id, type, environment FROM api_keys WHERE key_hash = ?1").bind(hash).first<KeyRow>();
  } catch (error) {
    console.error(JSON.stringify({ level: "error", msg: "key index: D1 read failed", error: (error as Error).name }));
    throw new GatewayError("storage_unavailable", "This API key could not be looked up just now. Retry after Retry-After seconds.", {
      headers: { "Retry-After": "1" },
    });
  }
}

const KV_UNREACHABLE = Symbol("KV unreachable");

/** The key's KV entry; KV_UNREACHABLE when KV fails (an outage, a rate limit): D1 answers instead. */
async function readKv(env: Env, hash: string): Promise<KeyFacts | null | typeof KV_UNREACHABLE> {
  try {
    return await env.KEYS.get<KeyFacts>(kvKeyName(hash), { type: "json", cacheTtl: 3600 });
  } catch (error) {
    // Logged by its class only: a message could quote the entry's name, which holds the key's hash.
    console.error(JSON.stringify({ level: "error", msg: "key index: KV read failed, asking D1", error: (error as Error).name }));
    return KV_UNREACHABLE;
  }
}

/** Best effort: a key KV does not know yet is written there after a D1 hit; D1 answers until it lands. */
async function refillKv(env: Env, hash: string, facts: KeyFacts): Promise<void> {
  try {
    await env.KEYS.put(kvKeyName(hash), JSON.stringify(facts));
  } catch (error) {
    console.error(JSON.stringify({ level: "warn", msg: "key index: KV refill failed", key_id: facts.keyId, error: (error as Error).name }));
  }
}

/** Written once, when a key is created. */
export async function indexKey(env: Env, hash: string, facts: KeyFacts): Promise<void> {
  await env.KEYS.put(kvKeyName(hash), JSON.stringify(facts));
}
