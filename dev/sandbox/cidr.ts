import { BlockList, isIPv4, isIPv6 } from "node:net";

export interface Cidr {
  address: string;
  prefix: number;
  family: "ipv4" | "ipv6";
}

/** `n.n.n.n/n` (RFC 4632) or an IPv6 `addr/n`; the prefix is mandatory, as in the Silverflow docs. */
export function parseCidr(text: string): Cidr | undefined {
  const match = /^([^/\s]+)\/(\d{1,3})$/.exec(text);
  if (!match?.[1] || !match[2]) return undefined;
  const prefix = Number(match[2]);
  if (isIPv4(match[1]) && prefix <= 32) return { address: match[1], prefix, family: "ipv4" };
  if (isIPv6(match[1]) && prefix <= 128) return { address: match[1], prefix, family: "ipv6" };
  return undefined;
}

/**
 * True when the socket's remote address is inside one of the ranges. An IPv4 client on a
 * dual-stack socket shows up as ::ffff:a.b.c.d and is matched as the IPv4 address it is.
 */
export function addressInRanges(remoteAddress: string | undefined, cidrs: readonly string[]): boolean {
  if (!remoteAddress) return false;
  const list = new BlockList();
  for (const text of cidrs) {
    const cidr = parseCidr(text);
    if (cidr) list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress)?.[1];
  const address = mapped ?? remoteAddress;
  if (isIPv4(address)) return list.check(address, "ipv4");
  if (isIPv6(address)) return list.check(address, "ipv6");
  return false;
}
