import { lookup } from 'node:dns/promises';
import { EosError } from '@everythingos/proto';
import { buildConnector } from 'undici';
import { classifyAddress, isIpLiteral, normalizeHostname } from './address-policy.js';
import type { HostAllowlist } from './host-allowlist.js';

/** One resolved address. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/**
 * Resolves a host name to every address it has. Injected so tests (and split-horizon setups) can
 * map names; the default is `dns.lookup(host, { all: true })`, which is what a plain connect uses.
 */
export type HostResolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** The default {@link HostResolver}: getaddrinfo via `dns.lookup`, every answer. */
export const systemResolver: HostResolver = async (hostname) => {
  const answers = await lookup(hostname, { all: true, verbatim: true });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/** What the guarded connector needs. */
export interface GuardedConnectorOptions {
  readonly resolver: HostResolver;
  readonly operatorAllowlist: HostAllowlist;
  readonly connectTimeoutMs: number;
  /** Extra TLS/socket options for the base connector (for example a test CA). */
  readonly tls?: buildConnector.BuildOptions | undefined;
}

function blocked(reason: string, details: Record<string, unknown>): EosError {
  return new EosError('EOS_EGRESS_BLOCKED', `egress blocked at dial time: ${reason}`, {
    details: { reason, stage: 'dial', ...details },
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, hostname: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new EosError('EOS_EGRESS_TIMEOUT', `resolving ${hostname} took longer than ${ms} ms`, {
          details: { reason: 'dns-timeout' },
        }),
      );
    }, ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/**
 * Decide which addresses a connection to `hostname:port` may dial. Every resolved address must
 * pass (a mixed answer is a rebinding signal), unless the host:port is on the operator allowlist,
 * which waives the address block but never the metadata block.
 */
export async function resolveDialTargets(
  hostname: string,
  port: number,
  protocol: string,
  opts: Pick<GuardedConnectorOptions, 'resolver' | 'operatorAllowlist' | 'connectTimeoutMs'>,
): Promise<readonly ResolvedAddress[]> {
  const host = normalizeHostname(hostname);
  const operatorAllowed = opts.operatorAllowlist.has(host, port, protocol);
  let targets: readonly ResolvedAddress[];
  if (isIpLiteral(host)) {
    targets = [{ address: host, family: host.includes(':') ? 6 : 4 }];
  } else {
    try {
      targets = await withTimeout(opts.resolver(host), opts.connectTimeoutMs, host);
    } catch (err) {
      if (err instanceof EosError) {
        throw err;
      }
      throw new EosError('EOS_EGRESS_UPSTREAM_FAILED', `could not resolve ${host}`, {
        cause: err,
        details: { reason: 'dns-failed' },
      });
    }
  }
  if (targets.length === 0) {
    throw new EosError('EOS_EGRESS_UPSTREAM_FAILED', `${host} has no addresses`, {
      details: { reason: 'dns-empty' },
    });
  }
  for (const t of targets) {
    const verdict = classifyAddress(t.address);
    if (verdict.allowed) {
      continue;
    }
    if (verdict.blockedClass === 'metadata' || !operatorAllowed) {
      throw blocked('address', { host, address: t.address, blockedClass: verdict.blockedClass });
    }
  }
  return targets;
}

/**
 * Build an undici connector that resolves the host itself, checks every address, and dials the
 * checked address (pinned: undici never resolves again), so there is no window between the check
 * and `connect()`. TLS keeps the original name for SNI and certificate verification.
 */
export function createGuardedConnector(opts: GuardedConnectorOptions): buildConnector.connector {
  const base = buildConnector({ ...opts.tls, timeout: opts.connectTimeoutMs });
  return (options, callback) => {
    const port = Number(options.port) || (options.protocol === 'https:' ? 443 : 80);
    resolveDialTargets(options.hostname, port, options.protocol, opts).then(
      (targets) => {
        const attempt = (i: number): void => {
          const target = targets[i];
          if (target === undefined) {
            callback(new EosError('EOS_INTERNAL', 'no dial target left'), null);
            return;
          }
          base({ ...options, hostname: target.address }, (err, socket) => {
            if (err !== null && i + 1 < targets.length) {
              attempt(i + 1);
              return;
            }
            if (err !== null) {
              callback(err, null);
              return;
            }
            callback(null, socket);
          });
        };
        attempt(0);
      },
      (err: unknown) => {
        callback(err instanceof Error ? err : new Error(String(err)), null);
      },
    );
  };
}
