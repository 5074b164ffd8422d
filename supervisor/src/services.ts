import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { EosError, isEosError } from '@everythingos/proto';
import type { DaemonConfig } from './config/schema.js';
import { ensureDir } from './fs-layout.js';
import { Ledger, loadOrGenerateLedgerKey, type JsonValue, type LedgerSigningKey } from './ledger/index.js';
import { createEgressTransport, LlmGateway, ModelGuard, type LlmDecision } from './llm/index.js';
import type { DaemonMetrics } from './metrics/daemon-metrics.js';
import { createEgressFetch, type EgressAuditEvent, type EgressGuard } from './security/egress/index.js';
import { MemoryStore } from './security/memory/index.js';
import { filterModelOutput, sanitize, type SanitizeResult } from './security/sanitize/index.js';
import { Vault, type VaultAuditEvent } from './security/vault/index.js';

/** Records one security event; `durable` waits for fdatasync and fails closed. */
export type AuditFn = (kind: string, agentId: string | undefined, payload: Record<string, unknown>, opts?: { durable?: boolean }) => Promise<void>;

/** The supervisor's security services: ledgers, vault, egress, sanitizer, LLM gateway, memory. */
export interface SecurityServices {
  readonly auditLedger: Ledger;
  readonly decisionLedger: Ledger;
  /** The audit log of security events. */
  readonly audit: AuditFn;
  /** Records a decision (act, think) durably; rejects with `EOS_LEDGER_DEGRADED` when it cannot. */
  recordDecision(kind: string, agentId: string, payload: Record<string, unknown>): Promise<{ seq: number; hash: string }>;
  readonly vault: Vault;
  readonly egress: EgressGuard;
  readonly llm: LlmGateway;
  /** The model allowlist and signed behavioural baselines. */
  readonly modelGuard: ModelGuard;
  readonly memory: MemoryStore;
  sanitize(text: string): SanitizeResult;
  /** Redacts every vault secret (raw and encoded forms) from text going back to an agent. */
  redactSecrets(text: string): string;
  readonly ledgerPublicKeyPath: string;
  close(): Promise<void>;
}

export interface ServicesOptions {
  config: DaemonConfig;
  logger: Logger;
  metrics?: DaemonMetrics;
  /** Operator override: start although a ledger is missing, regressed or fails verification. */
  acceptLedgerReset?: boolean;
  resetReason?: string;
}

/** Where the supervisor's keys live; each key file is 0400 and used for one purpose only. */
export function keyPaths(stateDir: string): { dir: string; ledger: string; vault: string; fingerprint: string } {
  const dir = join(stateDir, 'keys');
  return { dir, ledger: join(dir, 'ledger.key'), vault: join(dir, 'vault.key'), fingerprint: join(dir, 'fingerprint.key') };
}

/** Directories of the two ledger streams. */
export function ledgerDirs(stateDir: string): { audit: string; decisions: string } {
  return { audit: join(stateDir, 'ledger', 'audit'), decisions: join(stateDir, 'ledger', 'decisions') };
}

/** Whether `v` is JSON data as is: what a JSON round trip would return unchanged (deep equal). */
function isPlainJson(v: unknown, depth: number): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') {
    return true;
  }
  if (typeof v === 'number') {
    return Number.isFinite(v);
  }
  if (typeof v !== 'object' || depth > 32) {
    return false;
  }
  if (Array.isArray(v)) {
    for (const x of v) {
      if (!isPlainJson(x, depth + 1)) {
        return false;
      }
    }
    return true;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype || 'toJSON' in v) {
    return false;
  }
  for (const k in v) {
    if (!Object.hasOwn(v, k) || !isPlainJson((v as Record<string, unknown>)[k], depth + 1)) {
      return false;
    }
  }
  return true;
}

/**
 * The payload as JSON data: itself when it already is (the hot path of every act, no copy), else
 * a JSON round trip (drops undefined, applies toJSON, NaN to null). The ledger encodes the record
 * before `append` returns and keeps no reference to the payload.
 */
function jsonSafe(payload: Record<string, unknown>): Record<string, JsonValue> {
  if (isPlainJson(payload, 0)) {
    return payload as Record<string, JsonValue>;
  }
  return JSON.parse(JSON.stringify(payload)) as Record<string, JsonValue>;
}

/**
 * Opens the ledgers (creating them only on the very first start, recognised by the absence of the
 * ledger key), the vault, the egress guard, the LLM gateway and the memory store.
 * @throws EosError `EOS_LEDGER_REGRESSED` / `EOS_LEDGER_TAMPERED` (refuse to start), `EOS_VAULT_INSECURE`.
 */
export async function createServices(opts: ServicesOptions): Promise<SecurityServices> {
  const { config, logger, metrics } = opts;
  const log = logger.child({ component: 'supervisor', unit: 'security' });
  const keys = keyPaths(config.stateDir);
  await ensureDir(keys.dir, 0o700);
  const firstStart = !existsSync(keys.ledger);
  const ledgerKey: LedgerSigningKey = loadOrGenerateLedgerKey(keys.ledger);
  const dirs = ledgerDirs(config.stateDir);
  await ensureDir(join(config.stateDir, 'ledger'), 0o700);
  const origin = `eosd/${hostname().replace(/[^\x21-\x7e]/g, '_') || 'host'}`;
  const openLedger = async (stream: 'audit' | 'decisions'): Promise<Ledger> => {
    const ledger = await Ledger.open(
      {
        dir: dirs[stream],
        origin: `${origin}/${stream}`,
        create: firstStart,
        acceptReset: opts.acceptLedgerReset === true,
        ...(opts.resetReason === undefined ? {} : { resetReason: opts.resetReason }),
        verifyOnOpen: config.ledger.verifyOnOpen,
        checkpointEveryRecords: config.ledger.checkpointEveryRecords,
        checkpointIntervalMs: config.ledger.checkpointIntervalMs,
      },
      {
        key: ledgerKey,
        logger: log.child({ stream }),
        onAlarm: (err) => {
          metrics?.ledgerDegraded.set({ stream }, 1);
          log.error({ err, stream, code: err.code }, 'ledger failed closed; gated actions are refused');
        },
        onSync: (seconds) => metrics?.ledgerFsync.observe({ stream }, seconds),
        onCheckpoint: (cp) => {
          metrics?.ledgerLastCheckpoint.set({ stream }, Date.now() / 1000);
          // The checkpoint in the log stream (journald under systemd) is an external anchor.
          log.info({ stream, checkpoint: cp }, 'ledger checkpoint');
        },
      },
    );
    metrics?.ledgerDegraded.set({ stream }, 0);
    return ledger;
  };
  const auditLedger = await openLedger('audit');
  let decisionLedger: Ledger;
  try {
    decisionLedger = await openLedger('decisions');
  } catch (err) {
    await auditLedger.close();
    throw err;
  }

  const audit: AuditFn = async (kind, agentId, payload, o = {}) => {
    try {
      await auditLedger.append(kind, agentId ?? null, jsonSafe(payload), { durable: o.durable === true });
      metrics?.ledgerRecords.inc({ stream: 'audit' });
    } catch (err) {
      if (o.durable === true) {
        throw err;
      }
      log.error({ err, kind, agentId }, 'audit record lost: the audit ledger refused it');
    }
  };

  const vault = await Vault.open(join(config.stateDir, 'vault'), keys.vault, {
    logger: log.child({ unit: 'vault' }),
    audit: async (e: VaultAuditEvent) => {
      metrics?.vaultGrants.inc({ event: e.type.replace(/^vault\./, '') });
      const { type, ...rest } = e as { type: string } & Record<string, unknown>;
      await audit(type, typeof rest.agentId === 'string' ? rest.agentId : undefined, rest, { durable: type === 'vault.grant' || type === 'vault.use' });
    },
  });
  const egress = createEgressFetch(config.egress, {
    logger: log.child({ unit: 'egress' }),
    credentials: vault,
    audit: async (e: EgressAuditEvent) => {
      metrics?.egressRequests.inc({ decision: e.type.replace(/^egress\./, '') });
      const { type, agentId, ...rest } = e;
      await audit(type, agentId, rest);
    },
  });

  const fingerprintKey = loadOrGenerateLedgerKey(keys.fingerprint);
  const guard = new ModelGuard({
    allowed: config.llm.providers.flatMap((p) => p.models.map((m) => `${p.name}:${m}`)),
    baselineFile: join(config.stateDir, 'model-baselines.json'),
    signer: { sign: (m) => fingerprintKey.sign(m), verify: (m, s) => fingerprintKey.publicKey.verify(m, s) },
  });
  const redactSecrets = (text: string): string => vault.scanner().redactString(text).output;
  const sanitizeText = (text: string): SanitizeResult => {
    const r = sanitize(text);
    for (const c of r.categories) {
      metrics?.sanitizerDetections.inc({ category: c });
    }
    return r;
  };
  const recordDecision = async (kind: string, agentId: string, payload: Record<string, unknown>): Promise<{ seq: number; hash: string }> => {
    if (decisionLedger.degraded) {
      throw new EosError('EOS_LEDGER_DEGRADED', 'the decision ledger failed closed; no action can be recorded', { cause: decisionLedger.degradedError });
    }
    const r = await decisionLedger.append(kind, agentId, jsonSafe(payload), { durable: true });
    metrics?.ledgerRecords.inc({ stream: 'decisions' });
    return r;
  };
  const llm = new LlmGateway({
    config: config.llm,
    guard,
    transport: createEgressTransport(egress, vault, config.llm.providers),
    sanitize: sanitizeText,
    filterOutput: (text, { strict }) => {
      const r = filterModelOutput(text, { strict });
      return { blocked: r.blocked, text: r.filtered, reasons: [...r.reasons, ...r.flagged] };
    },
    redactSecrets,
    record: async (d: LlmDecision) => {
      metrics?.llmCalls.inc({ model: d.model, outcome: d.kind.replace(/^llm\./, '') });
      if (d.inputTokens !== undefined) {
        metrics?.llmTokens.inc({ model: d.model, direction: 'input' }, d.inputTokens);
      }
      if (d.outputTokens !== undefined) {
        metrics?.llmTokens.inc({ model: d.model, direction: 'output' }, d.outputTokens);
      }
      // Token counts go under `usage`: the ledger refuses field names containing "token" unless they hold a digest.
      const { kind, agentId, inputTokens, outputTokens, ...rest } = d;
      const usage = inputTokens === undefined && outputTokens === undefined ? {} : { usage: { input: inputTokens ?? 0, output: outputTokens ?? 0 } };
      await recordDecision(kind, agentId, { ...rest, ...usage });
    },
  });
  const memory = new MemoryStore({
    dirFor: (agentId) => join(config.stateDir, 'agents', agentId),
    sanitize: sanitizeText,
  });

  return {
    auditLedger,
    decisionLedger,
    audit,
    recordDecision,
    vault,
    egress,
    llm,
    modelGuard: guard,
    memory,
    sanitize: sanitizeText,
    redactSecrets,
    ledgerPublicKeyPath: `${keys.ledger}.pub`,
    async close() {
      await egress.close();
      for (const l of [decisionLedger, auditLedger]) {
        try {
          await l.close();
        } catch (err) {
          log.error({ err, code: isEosError(err) ? err.code : undefined }, 'ledger close failed');
        }
      }
    },
  };
}
