/** countedAddress: IPv4 one by one, IPv6 per /64, whatever spelling CF-Connecting-IP uses. */
import { describe, expect, it } from "vitest";
import { countedAddress } from "../../src/guard/client-address";

describe("countedAddress", () => {
  it.each([
    ["203.0.113.7", "203.0.113.7"],
    ["2001:db8:1:2::1", "2001:db8:1:2::/64"],
    ["2001:0DB8:0001:0002:ffff:0:0:1", "2001:db8:1:2::/64"],
    ["[2001:db8:1:2::abcd]", "2001:db8:1:2::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["::", "0:0:0:0::/64"],
    ["2001:db8::", "2001:db8:0:0::/64"],
    ["::ffff:198.51.100.9", "198.51.100.9"],
    ["::ffff:c633:6409", "198.51.100.9"],
    ["64:ff9b::198.51.100.9", "64:ff9b:0:0::/64"],
  ])("%s → %s", (ip, expected) => {
    expect(countedAddress(ip)).toBe(expected);
  });

  it("hosts of one /64 share a count; neighbouring /64s do not", () => {
    const one = ["2001:db8:7:1::1", "2001:db8:7:1:8000::", "2001:db8:7:1:ffff:ffff:ffff:ffff"].map(countedAddress);
    expect(new Set(one).size).toBe(1);
    expect(countedAddress("2001:db8:7:2::1")).not.toBe(one[0]);
  });

  it.each(["not-an-ip", "1:2:3", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "::ffff:300.1.1.1"])("%s, not an address it can read, is counted as it is", (ip) => {
    expect(countedAddress(ip)).toBe(ip.toLowerCase());
  });
});
