import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { EosError, type RiskTier } from '@everythingos/proto';
import { writeFileAtomic } from '../state/atomic-write.js';
import type { ApprovalManager } from './approval-manager.js';
import type { RecentRecords, RecordSink } from './record-sink.js';

const QuarantineRecordSchema = z.strictObject({
  v: z.literal(1),
  agentId: z.string(),
  active: z.boolean(),
  reason: z.string(),
  triggeredBy: z.enum(['operator', 'restart-policy', 'kernel-alarm']),
  quarantinedAtMs: z.number().int().min(0),
  snapshotDir: z.string(),
  releasedAtMs: z.number().int().min(0).optional(),
  releaseApprovalId: z.string().optional(),
});

/** A quarantine as persisted in `<dir>/<agentId>/record.json`. */
export type QuarantineRecord = z.output<typeof QuarantineRecordSchema>;
/** Who put the agent in quarantine. */
export type QuarantineTrigger = QuarantineRecord['triggeredBy'];
/** Which tiers a kernel alarm quarantines (config `approvals.quarantineOnKernelAlarm`). */
export type KernelAlarmPolicy = 'none' | 'high' | 'medium-and-high' | 'all';

/** Audit records of the agent copied into a quarantine snapshot. */
export const QUARANTINE_AUDIT_RECORDS = 200;

/** Whether a kernel alarm about an agent of `tier` quarantines it under `policy`. Pure. */
export function shouldQuarantineOnAlarm(policy: KernelAlarmPolicy, tier: RiskTier): boolean {
  switch (policy) {
    case 'none':
      return false;
    case 'high':
      return tier === 'high';
    case 'medium-and-high':
      return tier !== 'low';
    case 'all':
      return true;
  }
}

export interface QuarantineManagerOptions {
  /** Root of quarantine records and snapshots (mode 0700). */
  dir: string;
  approvals: ApprovalManager;
  sink: RecordSink;
  /** Recent audit records of an agent, copied into its snapshot. */
  recent: RecentRecords;
  log: Logger;
  /** Stops the agent (its process exits before this resolves). */
  stopAgent: (agentId: string, reason: string) => Promise<void>;
  /** The agent's state directory, copied into the snapshot. */
  stateDirOf: (agentId: string) => string;
  /** Revokes every credential the agent holds (vault grants, call keys). */
  revokeCredentials: (agentId: string) => Promise<void>;
  kernelAlarmPolicy: KernelAlarmPolicy;
  now?: () => number;
}

/**
 * Quarantine: a quarantined agent is stopped, its state and recent audit records are snapshotted,
 * its credentials are revoked, and the record is persisted; no start path works until a registered
 * approver signs its release. A record file that cannot be parsed counts as quarantined (fail closed).
 */
export class QuarantineManager {
  readonly #o: QuarantineManagerOptions;
  readonly #now: () => number;
  readonly #records = new Map<string, QuarantineRecord>();

  private constructor(opts: QuarantineManagerOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** Loads every persisted record under `dir`. */
  static async open(opts: QuarantineManagerOptions): Promise<QuarantineManager> {
    const m = new QuarantineManager(opts);
    await mkdir(opts.dir, { recursive: true, mode: 0o700 });
    for (const ent of await readdir(opts.dir, { withFileTypes: true })) {
      if (!ent.isDirectory()) {
        continue;
      }
      const file = join(opts.dir, ent.name, 'record.json');
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        opts.log.debug({ err, file }, 'quarantine directory without a record; ignored');
        continue;
      }
      try {
        const rec = QuarantineRecordSchema.parse(JSON.parse(text));
        m.#records.set(rec.agentId, rec);
      } catch (err) {
        opts.log.error({ err, file }, 'quarantine record corrupt; the agent stays quarantined');
        m.#records.set(ent.name, {
          v: 1,
          agentId: ent.name,
          active: true,
          reason: 'quarantine record corrupt',
          triggeredBy: 'operator',
          quarantinedAtMs: 0,
          snapshotDir: join(opts.dir, ent.name),
        });
      }
    }
    return m;
  }

  isQuarantined(agentId: string): boolean {
    return this.#records.get(agentId)?.active === true;
  }

  record(agentId: string): Readonly<QuarantineRecord> | undefined {
    const r = this.#records.get(agentId);
    return r === undefined ? undefined : { ...r };
  }

  /**
   * For internal start paths (restart after backoff): refuses a quarantined agent.
   * @throws EosError `EOS_AGENT_QUARANTINED`
   */
  assertNotQuarantined(agentId: string): void {
    if (this.isQuarantined(agentId)) {
      throw new EosError('EOS_AGENT_QUARANTINED', `agent ${agentId} is quarantined; starting it needs an approval`, { details: { agentId } });
    }
  }

  /**
   * For operator start paths: when the agent is quarantined, opens (or reuses) the approval request
   * that releases it and refuses this start.
   * @throws EosError `EOS_AGENT_QUARANTINED` with `details.approvalId`.
   */
  async requireRelease(agentId: string): Promise<void> {
    const rec = this.#records.get(agentId);
    if (rec?.active !== true) {
      return;
    }
    let view = this.#o.approvals.findPending('quarantine-release', agentId);
    if (view === undefined) {
      let approvalId = '';
      view = (
        await this.#o.approvals.open(
          'quarantine-release',
          agentId,
          `release agent ${agentId} from quarantine (${rec.triggeredBy}: ${rec.reason})`,
          { quarantinedAtMs: rec.quarantinedAtMs, snapshotDir: rec.snapshotDir },
          () => this.#release(agentId, approvalId),
        )
      ).view;
      approvalId = view.id;
    }
    throw new EosError(
      'EOS_AGENT_QUARANTINED',
      `agent ${agentId} is quarantined; approval ${view.id} releases it (eosd approve ${view.id}), then start it again`,
      { details: { agentId, approvalId: view.id } },
    );
  }

  /**
   * Quarantines an agent: blocks its starts at once, persists the record, stops it, snapshots its
   * state and recent audit records, revokes its credentials and records the event.
   * @returns the snapshot directory.
   * @throws EosError `EOS_ILLEGAL_STATE` when it is already quarantined.
   */
  async quarantine(agentId: string, reason: string, triggeredBy: QuarantineTrigger): Promise<string> {
    if (this.isQuarantined(agentId)) {
      throw new EosError('EOS_ILLEGAL_STATE', `agent ${agentId} is already quarantined`, { details: { agentId } });
    }
    const at = this.#now();
    const agentDir = join(this.#o.dir, agentId);
    const snapshotDir = join(agentDir, new Date(at).toISOString().replace(/[:.]/g, '-'));
    const rec: QuarantineRecord = { v: 1, agentId, active: true, reason, triggeredBy, quarantinedAtMs: at, snapshotDir };
    this.#records.set(agentId, rec);
    this.#o.log.error({ agentId, reason, triggeredBy }, 'agent quarantined');
    await mkdir(snapshotDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(agentDir, 'record.json'), `${JSON.stringify(rec)}\n`, 0o600);
    await this.#o.stopAgent(agentId, `quarantine: ${reason}`);
    const problems: string[] = [];
    try {
      await cp(this.#o.stateDirOf(agentId), join(snapshotDir, 'state'), { recursive: true, errorOnExist: false, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        problems.push(`state snapshot failed: ${(err as Error).message}`);
      }
    }
    const audit = await this.#o.recent.recent(agentId, QUARANTINE_AUDIT_RECORDS);
    await writeFile(join(snapshotDir, 'audit.json'), `${JSON.stringify(audit, null, 1)}\n`, { mode: 0o600 });
    try {
      await this.#o.revokeCredentials(agentId);
    } catch (err) {
      problems.push(`credential revocation failed: ${(err as Error).message}`);
    }
    await writeFile(join(snapshotDir, 'record.json'), `${JSON.stringify({ ...rec, problems }, null, 1)}\n`, { mode: 0o600 });
    await this.#o.sink.record('agent.quarantined', agentId, { reason, triggeredBy, snapshotDir, auditRecords: audit.length, problems }, { durable: true });
    if (problems.length > 0) {
      this.#o.log.error({ agentId, problems }, 'quarantine incomplete');
    }
    return snapshotDir;
  }

  /** Applies the kernel-alarm policy: quarantines the agent when its tier is covered. */
  async onKernelAlarm(agentId: string, tier: RiskTier, alarm: string): Promise<boolean> {
    if (!shouldQuarantineOnAlarm(this.#o.kernelAlarmPolicy, tier) || this.isQuarantined(agentId)) {
      return false;
    }
    await this.quarantine(agentId, `kernel alarm: ${alarm}`, 'kernel-alarm');
    return true;
  }

  async #release(agentId: string, approvalId: string): Promise<void> {
    const rec = this.#records.get(agentId);
    if (rec === undefined) {
      return;
    }
    const next: QuarantineRecord = { ...rec, active: false, releasedAtMs: this.#now(), releaseApprovalId: approvalId };
    await writeFileAtomic(join(this.#o.dir, agentId, 'record.json'), `${JSON.stringify(next)}\n`, 0o600);
    this.#records.set(agentId, next);
    this.#o.log.warn({ agentId }, 'agent released from quarantine');
    await this.#o.sink.record('agent.released', agentId, { quarantinedAtMs: rec.quarantinedAtMs, approvalId }, { durable: true });
  }
}
