import { EosError } from '@everythingos/proto';
import { normalizeHostname } from './address-policy.js';

/** One parsed allowlist entry: a normalized host and a port, or `null` for the scheme's default port. */
interface HostEntry {
  readonly hostname: string;
  readonly port: number | null;
}

/** The default port of an allowed scheme. */
export function defaultPort(protocol: string): number {
  return protocol === 'https:' ? 443 : 80;
}

function parseEntry(entry: string, source: string): HostEntry {
  if (entry.length === 0 || /[/?#@\s*]/.test(entry)) {
    throw new EosError(
      'EOS_CONFIG_INVALID',
      `${source}: "${entry}" is not a host or host:port (no scheme, path, userinfo or wildcard)`,
    );
  }
  let url: URL;
  try {
    url = new URL(`http://${entry}`);
  } catch (err) {
    throw new EosError('EOS_CONFIG_INVALID', `${source}: "${entry}" is not a host or host:port`, {
      cause: err,
    });
  }
  // WHATWG drops an explicit :80 for http, so read the port from the entry itself.
  const portMatch = /:(\d+)$/.exec(entry);
  const port = portMatch?.[1] === undefined ? null : Number(portMatch[1]);
  if (port !== null && (port < 1 || port > 65_535)) {
    throw new EosError('EOS_CONFIG_INVALID', `${source}: "${entry}" has an invalid port`);
  }
  return { hostname: normalizeHostname(url.hostname), port };
}

/**
 * A set of exact hosts (`api.example.com`, matching the scheme's default port only) and
 * `host:port` entries. IPv4 spellings are normalized by the WHATWG URL parser, so
 * `2130706433` and `127.0.0.1` are the same entry; no wildcards.
 */
export class HostAllowlist {
  readonly #entries: readonly HostEntry[];

  /** @throws EosError `EOS_CONFIG_INVALID` for an entry that is not `host` or `host:port`. */
  constructor(entries: readonly string[], source: string) {
    this.#entries = entries.map((e) => parseEntry(e, source));
  }

  /** Whether the (already normalized) hostname on this port and protocol is listed. */
  has(hostname: string, port: number, protocol: string): boolean {
    const h = normalizeHostname(hostname);
    return this.#entries.some(
      (e) => e.hostname === h && (e.port === null ? port === defaultPort(protocol) : e.port === port),
    );
  }

  /** Number of entries. */
  get size(): number {
    return this.#entries.length;
  }
}
