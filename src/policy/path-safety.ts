/**
 * Paths that an origin may read differently than the route table did (API.md §2): the gateway
 * checks one path and forwards it; a Tomcat or Spring origin that strips `;` parameters, or any
 * origin that decodes `%2F`, `%5C` or `%25` before it routes, or resolves a `..` it decoded,
 * would act on another (`/v1/users/..;/admin/purge` is a users route here and an admin one
 * there). Such paths are 400 `invalid_request`, checked before anything costs I/O. Pure.
 *
 * A segment is ambiguous when, percent-decoded, it is `..` or holds `;`, `/`, `\` or `%` — or
 * does not decode at all (a broken escape, or bytes that are not UTF-8).
 */

/** Characters no decoded segment may hold: parameters, separators, a second round of escapes. */
const AMBIGUOUS_CHARACTER = /[;/\\%]/;

/** What makes the path ambiguous, for the error's detail; null for a plain path. */
export function pathProblem(pathname: string): string | null {
  // The common path has no escape, parameter or dot segment: one scan, no decoding.
  if (!pathname.includes("%") && !pathname.includes(";") && !pathname.includes("\\") && !pathname.includes("..")) return null;
  for (const segment of pathname.split("/")) {
    const decoded = decodeSegment(segment);
    if (decoded === null) return "a broken percent-escape";
    if (decoded === "..") return "a `..` segment";
    if (decoded.includes(";")) return "a `;` parameter";
    if (AMBIGUOUS_CHARACTER.test(decoded)) return "an encoded `/`, `\\` or `%`";
  }
  return null;
}

function decodeSegment(segment: string): string | null {
  if (!segment.includes("%")) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}
