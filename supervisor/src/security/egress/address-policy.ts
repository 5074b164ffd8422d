import ipaddr from 'ipaddr.js';

/**
 * Why an address or name is blocked. `metadata` is never bypassable, even by the operator
 * allowlist; every other class may be bypassed for a deliberate internal endpoint.
 */
export type BlockedClass =
  | 'metadata'
  | 'unspecified'
  | 'broadcast'
  | 'multicast'
  | 'link-local'
  | 'loopback'
  | 'cgnat'
  | 'private'
  | 'reserved'
  | 'unique-local'
  | 'ipv4-embedded'
  | 'unparseable';

/** The verdict on one IP address: allowed, or blocked with its class. */
export type AddressVerdict = { allowed: true } | { allowed: false; blockedClass: BlockedClass };

/**
 * Cloud instance-metadata and platform endpoints. Sources: AWS IMDS (169.254.169.254, fd00:ec2::254,
 * DNS .253/fd00:ec2::253, NTP .123/fd00:ec2::123), ECS task metadata (169.254.170.2), Alibaba
 * (100.100.100.200), Azure WireServer (168.63.129.16, a public address, so listed explicitly),
 * Oracle (192.0.0.192).
 */
const METADATA_ADDRESSES: ReadonlySet<string> = new Set([
  '169.254.169.254',
  '169.254.169.253',
  '169.254.169.123',
  '169.254.170.2',
  '100.100.100.200',
  '168.63.129.16',
  '192.0.0.192',
  ipaddr.parse('fd00:ec2::254').toNormalizedString(),
  ipaddr.parse('fd00:ec2::253').toNormalizedString(),
  ipaddr.parse('fd00:ec2::123').toNormalizedString(),
]);

/** Host names of metadata services; compared after lowercasing and stripping trailing dots. */
const METADATA_NAMES: ReadonlySet<string> = new Set([
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'metadata.azure.internal',
  'metadata.azure.com',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.tencentyun.com',
  'metadata.platformequinix.com',
]);

const V4_RANGE_CLASS: Readonly<Record<string, BlockedClass | undefined>> = {
  unspecified: 'unspecified',
  broadcast: 'broadcast',
  multicast: 'multicast',
  linkLocal: 'link-local',
  loopback: 'loopback',
  carrierGradeNat: 'cgnat',
  private: 'private',
  reserved: 'reserved',
  as112: 'reserved',
  amt: 'reserved',
};

const V6_RANGE_CLASS: Readonly<Record<string, BlockedClass | undefined>> = {
  unspecified: 'unspecified',
  linkLocal: 'link-local',
  multicast: 'multicast',
  loopback: 'loopback',
  uniqueLocal: 'unique-local',
  discard: 'reserved',
  '6to4': 'ipv4-embedded',
  teredo: 'ipv4-embedded',
  benchmarking: 'reserved',
  amt: 'reserved',
  as112v6: 'reserved',
  deprecated: 'reserved',
  orchid2: 'reserved',
  droneRemoteIdProtocolEntityTags: 'reserved',
  reserved: 'reserved',
};

function classifyV4(addr: ipaddr.IPv4): AddressVerdict {
  if (METADATA_ADDRESSES.has(addr.toString())) {
    return { allowed: false, blockedClass: 'metadata' };
  }
  const blockedClass = V4_RANGE_CLASS[addr.range()];
  return blockedClass === undefined ? { allowed: true } : { allowed: false, blockedClass };
}

function embeddedV4(parts: number[]): ipaddr.IPv4 {
  const hi = parts[6] ?? 0;
  const lo = parts[7] ?? 0;
  return new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
}

function classifyV6(addr: ipaddr.IPv6): AddressVerdict {
  if (METADATA_ADDRESSES.has(addr.toNormalizedString())) {
    return { allowed: false, blockedClass: 'metadata' };
  }
  const parts = addr.parts;
  const range = addr.range();
  // ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (RFC 6145) and 64:ff9b::a.b.c.d (RFC 6052 NAT64)
  // reach the embedded IPv4 address, so they get its verdict; a blocked one keeps its own class.
  if (range === 'ipv4Mapped' || range === 'rfc6145' || range === 'rfc6052') {
    return classifyV4(embeddedV4(parts));
  }
  // ::a.b.c.d (IPv4-compatible, deprecated by RFC 4291 §2.5.5.1) has no legitimate use: block it
  // whole, and report the embedded class when the embedded address is itself blocked.
  if (parts.slice(0, 6).every((p) => p === 0) && range !== 'loopback' && range !== 'unspecified') {
    const inner = classifyV4(embeddedV4(parts));
    return { allowed: false, blockedClass: inner.allowed ? 'ipv4-embedded' : inner.blockedClass };
  }
  // 64:ff9b:1::/48, local-use NAT64 (RFC 8215), is not in ipaddr.js's table.
  if (parts[0] === 0x64 && parts[1] === 0xff9b && parts[2] === 1) {
    return { allowed: false, blockedClass: 'ipv4-embedded' };
  }
  const blockedClass = V6_RANGE_CLASS[range];
  return blockedClass === undefined ? { allowed: true } : { allowed: false, blockedClass };
}

/**
 * The WHATWG serialization of an IPv6 literal, or null. ipaddr.js reads `::a.b.c.d` as the
 * IPv4-mapped `::ffff:a.b.c.d`, but the kernel (and the URL parser) read it as IPv4-compatible
 * `::xxxx:xxxx`, so the bits are taken from the URL parser first.
 */
function canonicalV6(address: string): string | null {
  const literal = `http://[${address}]/`;
  return URL.canParse(literal) ? new URL(literal).hostname.slice(1, -1) : null;
}

/**
 * Classify one IP address (v4 or v6, without brackets or zone) for outbound use. Only global
 * unicast addresses that are not metadata endpoints are allowed.
 */
export function classifyAddress(address: string): AddressVerdict {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  // A zone id (fe80::1%eth0) is only valid on link-local addresses, which are blocked anyway.
  if (bare.includes('%') || !ipaddr.isValid(bare)) {
    return { allowed: false, blockedClass: 'unparseable' };
  }
  if (!bare.includes(':')) {
    return classifyV4(ipaddr.IPv4.parse(bare));
  }
  const canonical = canonicalV6(bare);
  return canonical === null
    ? { allowed: false, blockedClass: 'unparseable' }
    : classifyV6(ipaddr.IPv6.parse(canonical));
}

/** Whether `host` is an IPv4 or IPv6 literal (brackets allowed). */
export function isIpLiteral(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return ipaddr.IPv4.isValidFourPartDecimal(bare) || ipaddr.IPv6.isValid(bare);
}

/** Lowercase a host name, drop IPv6 brackets and trailing dots (`localhost.` is `localhost`). */
export function normalizeHostname(hostname: string): string {
  let h = hostname.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) {
    h = h.slice(1, -1);
  }
  while (h.endsWith('.')) {
    h = h.slice(0, -1);
  }
  if (h.includes(':') && ipaddr.IPv6.isValid(h)) {
    return canonicalV6(h) ?? h;
  }
  return h;
}

/**
 * Classify a host name before resolution. Metadata names are blocked outright; `localhost` and
 * `*.localhost` (RFC 6761 §6.3) are loopback by definition. Other names are decided at dial time.
 */
export function classifyHostname(hostname: string): AddressVerdict {
  const h = normalizeHostname(hostname);
  if (isIpLiteral(h)) {
    return classifyAddress(h);
  }
  if (METADATA_NAMES.has(h)) {
    return { allowed: false, blockedClass: 'metadata' };
  }
  if (h === 'localhost' || h.endsWith('.localhost')) {
    return { allowed: false, blockedClass: 'loopback' };
  }
  return { allowed: true };
}
