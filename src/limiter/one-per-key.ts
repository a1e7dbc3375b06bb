/**
 * A key's background job that must run once at a time in this isolate (a report to its object):
 * the first caller to claim the key runs it and releases the key when done; the others leave it
 * to that one. Plain data, as workerd requires of anything shared across requests.
 */
export interface OnePerKey {
  /** True if the caller now holds the key (and must `release` it); false while another does. */
  claim(keyId: string): boolean;
  release(keyId: string): void;
}

export function onePerKey(): OnePerKey {
  const held = new Set<string>();
  return {
    claim(keyId) {
      if (held.has(keyId)) return false;
      held.add(keyId);
      return true;
    },
    release(keyId) {
      held.delete(keyId);
    },
  };
}
