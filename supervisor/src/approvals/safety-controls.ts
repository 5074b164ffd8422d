import { join } from 'node:path';
import type { Logger } from 'pino';
import type { controlV1 } from '@everythingos/proto';
import type { AgentRunner } from '../agent/agent-runner.js';
import type { DaemonConfig } from '../config/schema.js';
import { agentPaths, ensureDir } from '../fs-layout.js';
import { ApprovalManager, type ApprovalView } from './approval-manager.js';
import { EmergencyStop } from './estop.js';
import { QuarantineManager, type QuarantineTrigger } from './quarantine-manager.js';
import { JsonlRecordSink, type RecentRecords, type RecordSink } from './record-sink.js';

/** The daemon's approvals, emergency stop and quarantine, built from its config. */
export interface SafetyControls {
  approvals: ApprovalManager;
  estop: EmergencyStop;
  quarantine: QuarantineManager;
  /** Whether every sandbox layer is active (from the sandbox plan); HIGH agents need it. */
  sandboxFull: boolean;
  estopInfo(): controlV1.EmergencyStopInfo;
  /** Quarantines without awaiting (from process-exit handlers); failures are logged. */
  quarantineInBackground(agentId: string, reason: string, trigger: QuarantineTrigger): void;
}

export interface SafetyControlsOptions {
  config: DaemonConfig;
  log: Logger;
  /** Where approvals, estops and quarantines are recorded durably (the audit ledger in the daemon). */
  sink?: RecordSink & RecentRecords;
  /** Whether the host gives agents every sandbox layer. */
  sandboxFull: boolean;
  /** Revokes an agent's vault grants (quarantine). */
  revokeCredentials?: (agentId: string) => Promise<void>;
  runners: () => AgentRunner[];
  stopAgent: (agentId: string, reason: string) => Promise<void>;
}

const LIVE_STATES = new Set(['starting', 'running', 'stopping', 'backoff']);

/** An {@link ApprovalView} in its control-protocol form. */
export function toApprovalInfo(v: ApprovalView): controlV1.ApprovalInfo {
  return {
    id: v.id,
    kind: v.kind,
    agentId: v.agentId ?? '',
    summary: v.summary,
    challenge: v.state === 'pending' ? v.challenge : '',
    createdAtMs: v.createdAtMs,
    expiresAtMs: v.expiresAtMs,
    state: v.state,
    decidedBy: v.decidedBy,
    reason: v.reason,
    actionJson: Buffer.from(JSON.stringify(v.action)),
  };
}

/**
 * Builds the safety controls. Records go to the given sink (the daemon passes its audit ledger;
 * `<stateDir>/approvals.jsonl` otherwise); the emergency stop lives in `approvals.estopFile` (default `<stateDir>/estop.json`);
 * quarantine records and snapshots under `<stateDir>/quarantine`.
 */
export async function createSafetyControls(o: SafetyControlsOptions): Promise<SafetyControls> {
  const { config, log } = o;
  const sink = o.sink ?? new JsonlRecordSink(join(config.stateDir, 'approvals.jsonl'));
  const approvals = new ApprovalManager({
    approvers: config.approvals.approvers,
    timeoutMs: config.approvals.timeoutMs,
    freshnessMs: config.approvals.freshnessMs,
    sink,
    log: log.child({ unit: 'approvals' }),
  });
  const killAll = async (reason: string): Promise<number> => {
    const runners = o.runners();
    const snaps = await Promise.all(runners.map((r) => r.snapshot()));
    for (const s of snaps) {
      if (s.pid > 0) {
        try {
          // Agents lead their own process group; SIGKILL the group now, then let stop() settle the state.
          process.kill(-s.pid, 'SIGKILL');
        } catch (err) {
          log.debug({ err, agentId: s.id }, 'emergency kill: process already gone');
        }
      }
    }
    await Promise.all(runners.map((r) => r.stop(reason)));
    return snaps.filter((s) => LIVE_STATES.has(s.state)).length;
  };
  const estop = await EmergencyStop.open({
    file: config.approvals.estopFile ?? join(config.stateDir, 'estop.json'),
    approvals,
    sink,
    log: log.child({ unit: 'estop' }),
    killAll,
  });
  const quarantineDir = join(config.stateDir, 'quarantine');
  await ensureDir(quarantineDir, 0o700);
  const qlog = log.child({ unit: 'quarantine' });
  const quarantine = await QuarantineManager.open({
    dir: quarantineDir,
    approvals,
    sink,
    recent: sink,
    log: qlog,
    stopAgent: o.stopAgent,
    stateDirOf: (id) => agentPaths(config.runDir, config.stateDir, id).stateDir,
    // The per-process call key dies with the process (AgentServer.unbind on exit) and no new one is
    // issued while quarantined; vault grants are revoked here.
    revokeCredentials: async (id) => {
      await o.revokeCredentials?.(id);
      qlog.warn({ agentId: id }, 'agent credentials revoked');
    },
    kernelAlarmPolicy: config.approvals.quarantineOnKernelAlarm,
  });
  return {
    approvals,
    estop,
    quarantine,
    sandboxFull: o.sandboxFull,
    estopInfo: () => {
      const s = estop.state;
      return { active: s.active, reason: s.active ? s.reason : '', engagedAtMs: s.active ? s.engagedAtMs : 0 };
    },
    quarantineInBackground: (agentId, reason, trigger) => {
      quarantine.quarantine(agentId, reason, trigger).catch((err: unknown) => qlog.error({ err, agentId }, 'quarantine failed'));
    },
  };
}
