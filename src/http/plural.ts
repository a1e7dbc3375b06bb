/**
 * Numbers in user-facing text, with their nouns in agreement: "1 request", "2 requests",
 * "1,000 requests". Every detail, page and message that puts a count before a noun goes through
 * here, so that no answer says "1 requests per second" (issue 16). English only: "one" takes the
 * singular, everything else (0, 2, 1.5, 1,000) the plural.
 */

/** A count in digits with thousands separators, as the dashboard shows counts: 1,000,000. */
export function formatCount(n: number): string {
  return n.toLocaleString("en-US", { maximumFractionDigits: 3 });
}

/** The noun for `n` of it: the singular for exactly 1, otherwise the plural (`singular + "s"` unless given). */
export function nounFor(n: number, singular: string, plural = `${singular}s`): string {
  return n === 1 ? singular : plural;
}

/** `n` and its noun: "1 request", "0 requests", "10,000 requests". */
export function countOf(n: number, singular: string, plural?: string): string {
  return `${formatCount(n)} ${nounFor(n, singular, plural)}`;
}
