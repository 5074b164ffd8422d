import { join } from 'node:path';
import type { Logger } from 'pino';
import { EosError, type RiskTier } from '@everythingos/proto';
import type { EventBus } from './bus/event-bus.js';
import type { DaemonConfig } from './config/schema.js';
import { ensureDir } from './fs-layout.js';
import { HelperEventValidator, SOC_CHANNELS, startHelper, type HelperHandle } from './helper/index.js';
import type { SecurityServices } from './services.js';
import { assetBin } from './asset-bin.js';

/** The bus identity of the helper's publications: a source no agent can have (ids start with a letter). */
export const HELPER_SOURCE = 'ebpf-helper';
/** How long the feed key read from the vault is kept in memory, ms. */
const FEED_KEY_CACHE_MS = 60_000;

export interface KernelWatchOptions {
  config: DaemonConfig;
  services: SecurityServices;
  bus: EventBus;
  log: Logger;
  isRoot: boolean;
  /** Which agent owns a uid. */
  agentForUid: (uid: number) => string | undefined;
  tierOf: (agentId: string) => RiskTier | undefined;
  /** Quarantines an agent after a CRITICAL kernel event, per policy. */
  onKernelAlarm: (agentId: string, tier: RiskTier, alarm: string) => void;
}

/**
 * Starts the eBPF helper as one more supervised child when `ebpf.mode` is not `off`: its events
 * are validated (the helper's output is a trust boundary), audited, and published on the SOC
 * channels with the helper as source; CRITICAL kernel events may quarantine the agent.
 * @throws EosError `EOS_CONFIG_INVALID` (tail mode without a directory, kernel mode without root).
 */
export async function startKernelWatch(o: KernelWatchOptions): Promise<HelperHandle | undefined> {
  const e = o.config.ebpf;
  if (e.mode === 'off') {
    return undefined;
  }
  if (e.mode === 'tail' && e.glasswallyDir === undefined) {
    throw new EosError('EOS_CONFIG_INVALID', 'ebpf.mode tail needs ebpf.glasswallyDir');
  }
  if (e.mode === 'kernel' && !o.isRoot) {
    throw new EosError('EOS_CONFIG_INVALID', 'ebpf.mode kernel needs eosd to run as root');
  }
  const log = o.log.child({ unit: 'ebpf-helper' });
  const { start, count } = o.config.uidRange;
  const channels: string[] = [...Object.values(SOC_CHANNELS.alert), SOC_CHANNELS.iocBundle, SOC_CHANNELS.enforcement];
  o.bus.registerAgent(HELPER_SOURCE, { publish: new Set(channels), subscribe: new Set() }, { eventsPerSec: 1_000, burst: 10_000 });
  let cachedKey: { key: Buffer | null; atMs: number } | undefined;
  const validator = new HelperEventValidator({
    logger: log,
    uidRange: { min: start, max: start + count },
    agentForUid: (uid) => {
      const agentId = o.agentForUid(uid);
      return agentId === undefined ? undefined : { agentId };
    },
    launcherPids: () => new Set([process.pid]),
    alertsPerMinute: e.alertsPerMinute,
    quarantineOnCritical: e.quarantineOnCritical,
    onQuarantine: (agentId, alert) => {
      o.onKernelAlarm(agentId, o.tierOf(agentId) ?? 'high', `${alert.severity} ${alert.title}`);
    },
    audit: (event, fields) => void o.services.audit(event, typeof fields.agentId === 'string' ? fields.agentId : undefined, fields),
    feedKey: async () => {
      if (e.feedKeySecret === undefined) {
        return null;
      }
      if (cachedKey === undefined || Date.now() - cachedKey.atMs > FEED_KEY_CACHE_MS) {
        cachedKey = { key: (await o.services.vault.secretForSupervisor(e.feedKeySecret, 'glasswally-feed-hmac')) ?? null, atMs: Date.now() };
      }
      return cachedKey.key;
    },
  });
  const helpersDir = join(o.config.runDir, 'helpers');
  await ensureDir(helpersDir, 0o711);
  const handle = await startHelper(
    {
      mode: e.mode,
      socketPath: join(helpersDir, 'ebpf.sock'),
      helperEntry: assetBin('@everythingos/ebpf-helper', 'ebpf-helper.js'),
      nodePath: process.execPath,
      ...(e.mode === 'tail' && o.isRoot ? { uid: e.helperUid ?? start - 1, gid: e.helperUid ?? start - 1 } : {}),
      ...(e.mode === 'tail' ? { tail: { dir: e.glasswallyDir ?? '' } } : { kernel: { uidMin: start, uidMax: start + count } }),
    },
    {
      logger: log,
      validator,
      isRoot: o.isRoot,
      onPublish: (p) => {
        try {
          o.bus.publish(HELPER_SOURCE, p.channel, 2, Buffer.from(JSON.stringify(p.payload)));
        } catch (err) {
          log.warn({ err, channel: p.channel }, 'helper publication not accepted by the bus');
        }
      },
    },
  );
  log.info({ mode: e.mode, pid: handle.pid }, 'ebpf helper started');
  return handle;
}
