/**
 * The address a failed authentication is counted against. IPv4 addresses count one by one; an
 * IPv6 host usually owns a whole /64 (SLAAC, privacy addresses), so anyone can rotate through
 * 2^64 addresses of their own: IPv6 addresses count per /64. Pure.
 */

/** `CF-Connecting-IP` as the guard counts it: an IPv4 address, or an IPv6 /64 as `a:b:c:d::/64`. */
export function countedAddress(ip: string): string {
  const address = ip.trim().replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, ""); // brackets, zone id
  if (!address.includes(":")) return address;
  const groups = ipv6Groups(address);
  if (groups === null) return address.toLowerCase(); // not an address we can read: counted as it is
  const [, , , , , sixth, high, low] = groups as [number, number, number, number, number, number, number, number];
  const mappedV4 = groups.slice(0, 5).every((g) => g === 0) && sixth === 0xffff;
  if (mappedV4) return [high >> 8, high & 0xff, low >> 8, low & 0xff].join(".");
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (`::` expanded, a trailing dotted IPv4 read), or null. */
function ipv6Groups(address: string): number[] | null {
  let text = address.toLowerCase();
  const dotted = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    if ([a, b, c, d].some((byte) => byte > 255)) return null;
    text = text.slice(0, dotted.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string) => (part === "" ? [] : part.split(":"));
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => parseInt(g, 16));
}
