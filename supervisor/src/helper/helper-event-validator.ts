import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { helperV1 } from '@everythingos/proto';
import {
  GwEnforcementAction,
  GwIocBundle,
  GwIocFeedEntry,
  LegacySignedBundle,
  gwBundleSigningBytes,
  legacySigningBytes,
  type GwIocBundle as GwIocBundleT,
  type GwEnforcementAction as GwEnforcementActionT,
} from './glasswally-schema.js';
import { sanitizeIdentifier, sanitizeText } from './sanitize-text.js';

/** SOC severities, most severe first. */
export const SOC_SEVERITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFO'] as const;
export type SocSeverity = (typeof SOC_SEVERITIES)[number];

/** Channels the helper's alerts and intel are published on (a SOC agent subscribes to them). */
export const SOC_CHANNELS = {
  alert: { CRITICAL: 'soc.alert.critical', HIGH: 'soc.alert.high', MEDIUM: 'soc.alert.medium', LOW: 'soc.alert.low', INFO: 'soc.alert.info' },
  iocBundle: 'soc.ioc.bundle',
  enforcement: 'glasswally.enforcement',
} as const satisfies { alert: Record<SocSeverity, string>; iocBundle: string; enforcement: string };

/** One alert, sanitized, as published on `soc.alert.<severity>`. */
export interface SocAlert {
  source: 'glasswally' | 'ebpf' | 'ebpf-helper';
  kind: string;
  severity: SocSeverity;
  title: string;
  description: string;
  /** The agent the event is attributed to (kernel events), else null. */
  agentId: string | null;
  tags: string[];
  metadata: Record<string, unknown>;
  /** ISO time the supervisor accepted the event. */
  ts: string;
}

/** Something the supervisor should publish on its bus. */
export interface SocPublication {
  channel: string;
  payload: unknown;
}

/** An agent as the kernel source sees it. */
export interface AgentIdentity {
  agentId: string;
  /** cgroup v2 id (inode of its cgroup dir), decimal; undefined when the agent has no own cgroup. */
  cgroupId?: string;
}

/** Dependencies and policy of a {@link HelperEventValidator}. */
export interface HelperEventValidatorOptions {
  logger: Logger;
  /** The feed HMAC key (the supervisor passes the vault); null or empty means "not configured". */
  feedKey: () => Promise<Buffer | null>;
  /** Writes an audit record (the ledger, when it lands). */
  audit: (event: string, fields: Record<string, unknown>) => void;
  /** Agent uid range `[min, max)`; kernel events outside it are rejected. */
  uidRange: { min: number; max: number };
  /** Looks up which agent owns a uid. */
  agentForUid: (uid: number) => AgentIdentity | undefined;
  /** pids that launch agents (the supervisor); identity changes by their children before the first exec are launch noise. */
  launcherPids: () => ReadonlySet<number>;
  /** Alerts per minute (fixed window) before non-CRITICAL alerts are dropped. @defaultValue 60 */
  alertsPerMinute?: number;
  /** Quarantine an agent on a CRITICAL kernel event. @defaultValue false */
  quarantineOnCritical?: boolean;
  onQuarantine?: (agentId: string, alert: SocAlert) => void;
  /** IOC feed freshness, ms (Glasswally: 24 h) and minimum confidence (Glasswally: 0.70). */
  feedMaxAgeMs?: number;
  feedMinConfidence?: number;
  now?: () => number;
}

/** Counters of a {@link HelperEventValidator}, for metrics. */
export interface ValidatorCounters {
  framesAccepted: number;
  framesRejected: number;
  alertsPublished: number;
  alertsRateLimited: number;
  launchNoiseSuppressed: number;
  iocVerified: number;
  iocRejected: number;
  iocUnverifiable: number;
  iocStaleOrWeak: number;
  injectionsFiltered: number;
  /** The helper's own last health report. */
  helper: { received: number; dropped: number; lostKernel: number; framingErrors: number; backendRestarts: number; backendState: string };
}

const KERNEL_KINDS = ['exec', 'connect', 'tcp_syn', 'open', 'ptrace', 'setid', 'setid_ok', 'priv'] as const;
const display = (max: number): z.ZodString => z.string().max(max).regex(/^[\x20-\x7e]*$/);
const KernelEventSchema = z.strictObject({
  kind: z.enum(KERNEL_KINDS),
  monoNs: z.string().regex(/^\d{1,20}$/),
  pid: z.number().int().min(1),
  tid: z.number().int().min(1),
  ppid: z.number().int().min(0),
  uid: z.number().int().min(0),
  gid: z.number().int().min(0),
  cgroupId: z.string().regex(/^\d{1,20}$/),
  comm: display(64),
  path: display(400),
  family: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(10)]),
  addr: z.string().max(64).regex(/^[0-9a-fA-F.:]*$/),
  port: z.number().int().min(0).max(65535),
  flags: z.number().int(),
  request: z.number().int(),
  targetPid: z.number().int(),
  syscall: z.string().regex(/^[a-z0-9_]{0,32}$/),
  idArgs: z.array(z.number().int()).max(3),
});
const GlasswallyRecordSchema = z.strictObject({
  kind: z.enum(['RECORD_KIND_ENFORCEMENT_ACTION', 'RECORD_KIND_IOC_BUNDLE', 'RECORD_KIND_IOC_FEED_ENTRY', 'RECORD_KIND_LEGACY_SIGNED_BUNDLE']),
  file: z.string().regex(/^[A-Za-z0-9._-]{1,120}$/),
  lineNo: z.number().int().min(0),
  data: z.instanceof(Uint8Array).refine((d) => d.length <= 1024 * 1024 + 4096),
});
const HealthSchema = z.strictObject({
  received: z.number().int().min(0),
  dropped: z.number().int().min(0),
  lostKernel: z.number().int().min(0),
  framingErrors: z.number().int().min(0),
  backendRestarts: z.number().int().min(0),
  backendState: z.enum(['starting', 'armed', 'down', 'stopped', 'tailing']),
  lastEventAgeMs: z.number().int().min(-1),
});
const AlarmSchema = z.strictObject({
  kind: z.enum(['lost_events', 'backend_down', 'backend_up', 'line_overflow', 'file_rejected']),
  count: z.number().int().min(0),
  message: display(200),
});

// Glasswally's own tier cut-offs (engine/fusion.rs). The predecessor's table (0.85/0.72/0.52/0.35)
// never matched them; see docs/ebpf-helper.md.
function scoreTier(score: number): SocSeverity {
  return score >= 0.72 ? 'CRITICAL' : score >= 0.55 ? 'HIGH' : score >= 0.35 ? 'MEDIUM' : 'INFO';
}
const ACTION_SEVERITY: Record<GwEnforcementActionT['action_type'], SocSeverity> = {
  SuspendAccount: 'CRITICAL',
  ClusterTakedown: 'CRITICAL',
  InjectCanary: 'HIGH',
  RateLimit: 'MEDIUM',
  FlagForReview: 'LOW',
  Monitor: 'INFO',
  IntelShare: 'INFO',
};

const EXECD_PIDS_CAP = 65_536;

/**
 * The supervisor's side of the helper trust boundary. Every frame the helper sends is parsed
 * with strict schemas here, whatever the helper claims; severities are decided here from the
 * validated facts, free text and identifiers are sanitized, feed signatures are checked with a
 * key the helper never sees, and alerts are rate limited per minute (CRITICAL ones are never
 * dropped, so a flood cannot hide them). It returns what to publish; it publishes nothing itself.
 */
export class HelperEventValidator {
  readonly #o: HelperEventValidatorOptions;
  readonly #now: () => number;
  readonly #execd = new Set<number>();
  #windowStart = 0;
  #windowCount = 0;
  readonly #c: ValidatorCounters = {
    framesAccepted: 0,
    framesRejected: 0,
    alertsPublished: 0,
    alertsRateLimited: 0,
    launchNoiseSuppressed: 0,
    iocVerified: 0,
    iocRejected: 0,
    iocUnverifiable: 0,
    iocStaleOrWeak: 0,
    injectionsFiltered: 0,
    helper: { received: 0, dropped: 0, lostKernel: 0, framingErrors: 0, backendRestarts: 0, backendState: 'unknown' },
  };

  constructor(options: HelperEventValidatorOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  counters(): ValidatorCounters {
    return { ...this.#c, helper: { ...this.#c.helper } };
  }

  /** Validates one decoded frame (after Hello) and returns what to publish. Never throws on bad input. */
  async handle(frame: helperV1.HelperFrame__Output): Promise<SocPublication[]> {
    try {
      const out = await this.#dispatch(frame);
      if (out === null) {
        this.#reject(frame.body ?? 'none', 'schema');
        return [];
      }
      this.#c.framesAccepted++;
      return out;
    } catch (err) {
      this.#o.logger.warn({ err }, 'helper frame rejected');
      this.#reject(frame.body ?? 'none', 'exception');
      return [];
    }
  }

  /** Alert for the helper process itself dying or crash-looping (called by startHelper). */
  helperDown(kind: 'helper_down' | 'helper_crash_loop', detail: Record<string, unknown>): SocPublication[] {
    return this.#alert({
      source: 'ebpf-helper',
      kind,
      severity: 'CRITICAL',
      title: kind === 'helper_down' ? 'ebpf-helper exited; monitoring is blind until it restarts' : 'ebpf-helper is crash-looping; monitoring is off',
      description: '',
      agentId: null,
      tags: ['ebpf-helper'],
      metadata: detail,
    });
  }

  #reject(body: string, why: string): void {
    this.#c.framesRejected++;
    this.#o.audit('security.helper_frame_rejected', { body, why });
  }

  async #dispatch(frame: helperV1.HelperFrame__Output): Promise<SocPublication[] | null> {
    switch (frame.body) {
      case 'kernelEvent': {
        const r = KernelEventSchema.safeParse(frame.kernelEvent);
        return r.success ? this.#kernel(r.data) : null;
      }
      case 'glasswallyRecord': {
        const r = GlasswallyRecordSchema.safeParse(frame.glasswallyRecord);
        return r.success ? this.#glasswally(r.data) : null;
      }
      case 'health': {
        const r = HealthSchema.safeParse(frame.health);
        if (!r.success) {
          return null;
        }
        const { lastEventAgeMs: _age, ...h } = r.data;
        this.#c.helper = h;
        return [];
      }
      case 'alarm': {
        const r = AlarmSchema.safeParse(frame.alarm);
        return r.success ? this.#alarm(r.data) : null;
      }
      case 'hello':
      case undefined:
        return null;
    }
  }

  #alarm(a: z.output<typeof AlarmSchema>): SocPublication[] {
    const severity: SocSeverity =
      a.kind === 'backend_down' ? 'CRITICAL' : a.kind === 'lost_events' || a.kind === 'file_rejected' ? 'HIGH' : a.kind === 'line_overflow' ? 'MEDIUM' : 'INFO';
    if (a.kind === 'line_overflow') {
      this.#o.audit('security.glasswally_line_buffer_overflow', { bytes: a.count });
    }
    return this.#alert({
      source: 'ebpf-helper',
      kind: a.kind === 'lost_events' ? 'ebpf_loss' : a.kind,
      severity,
      title: a.kind === 'lost_events' ? `kernel dropped ${a.count} events: the monitor is partially blind` : a.message,
      description: a.message,
      agentId: null,
      tags: ['ebpf-helper', a.kind],
      metadata: { count: a.count },
    });
  }

  #kernel(e: z.output<typeof KernelEventSchema>): SocPublication[] {
    const { min, max } = this.#o.uidRange;
    if (e.uid < min || e.uid >= max) {
      this.#c.framesRejected++;
      this.#o.audit('security.helper_frame_rejected', { body: 'kernelEvent', why: 'uid outside the agent range', uid: e.uid });
      return [];
    }
    const firstExecDone = this.#execd.has(e.pid);
    if (e.kind === 'exec') {
      if (this.#execd.size >= EXECD_PIDS_CAP) {
        const oldest = this.#execd.values().next().value;
        if (oldest !== undefined) {
          this.#execd.delete(oldest);
        }
      }
      this.#execd.add(e.pid);
    }
    if ((e.kind === 'setid' || e.kind === 'setid_ok') && !firstExecDone && this.#o.launcherPids().has(e.ppid)) {
      this.#c.launchNoiseSuppressed++;
      return [];
    }
    const agent = this.#o.agentForUid(e.uid);
    const comm = sanitizeIdentifier(e.comm, 64);
    const path = sanitizeIdentifier(e.path, 400);
    let severity: SocSeverity;
    let title: string;
    switch (e.kind) {
      case 'exec':
        severity = 'INFO';
        title = `exec ${path}`;
        break;
      case 'connect':
      case 'tcp_syn':
        severity = 'INFO';
        title = e.family === 1 ? `${e.kind} unix:${path}` : `${e.kind} ${e.addr} port ${e.port}`;
        break;
      case 'open':
        severity = 'HIGH';
        title = `open of sensitive path ${path}`;
        break;
      case 'ptrace':
        severity = 'HIGH';
        title = `ptrace request ${e.request} on pid ${e.targetPid}`;
        break;
      case 'setid':
        severity = 'HIGH';
        title = `identity change attempt: ${e.syscall}(${e.idArgs.join(', ')})`;
        break;
      case 'setid_ok':
        severity = 'CRITICAL';
        title = `identity change succeeded: ${e.syscall}`;
        break;
      case 'priv':
        severity = 'HIGH';
        title = `privileged syscall attempt: ${e.syscall}`;
        break;
    }
    if (agent === undefined && severity !== 'CRITICAL' && severity !== 'HIGH') {
      severity = 'MEDIUM';
    }
    const metadata = {
      uid: e.uid,
      gid: e.gid,
      pid: e.pid,
      ppid: e.ppid,
      cgroupId: e.cgroupId,
      comm,
      monoNs: e.monoNs,
      ...(path !== '' ? { path } : {}),
      ...(e.kind === 'connect' || e.kind === 'tcp_syn' ? { family: e.family, addr: e.addr, port: e.port } : {}),
      ...(e.kind === 'open' ? { flags: e.flags } : {}),
      ...(e.kind === 'ptrace' ? { request: e.request, targetPid: e.targetPid } : {}),
      ...(e.syscall !== '' ? { syscall: e.syscall } : {}),
      ...(e.kind === 'setid' ? { idArgs: e.idArgs } : {}),
    };
    const out = this.#alert({
      source: 'ebpf',
      kind: e.kind,
      severity,
      title,
      description: agent === undefined ? `uid ${e.uid} is in the agent range but belongs to no agent` : '',
      agentId: agent?.agentId ?? null,
      tags: ['ebpf', e.kind],
      metadata,
    });
    if (agent?.cgroupId !== undefined && agent.cgroupId !== e.cgroupId) {
      out.push(
        ...this.#alert({
          source: 'ebpf',
          kind: 'cgroup_mismatch',
          severity: 'HIGH',
          title: `process of ${agent.agentId} is outside its cgroup`,
          description: '',
          agentId: agent.agentId,
          tags: ['ebpf', 'cgroup_mismatch'],
          metadata: { expected: agent.cgroupId, actual: e.cgroupId, pid: e.pid },
        }),
      );
    }
    return out;
  }

  async #glasswally(r: z.output<typeof GlasswallyRecordSchema>): Promise<SocPublication[] | null> {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(r.data));
    } catch {
      return null; // not UTF-8 JSON: counted as a rejected frame
    }
    const where = { file: r.file, lineNo: r.lineNo };
    switch (r.kind) {
      case 'RECORD_KIND_ENFORCEMENT_ACTION': {
        const p = GwEnforcementAction.safeParse(json);
        return p.success ? this.#action(p.data) : null;
      }
      case 'RECORD_KIND_IOC_BUNDLE': {
        const p = GwIocBundle.safeParse(json);
        return p.success ? [this.#ioc(p.data, false)] : null;
      }
      case 'RECORD_KIND_IOC_FEED_ENTRY': {
        const p = GwIocFeedEntry.safeParse(json);
        if (!p.success) {
          return null;
        }
        const key = await this.#key();
        if (key === null) {
          return [];
        }
        const mac = createHmac('sha256', key).update(gwBundleSigningBytes(p.data.bundle)).digest();
        if (!timingSafeEqual(mac, Buffer.from(p.data.signature, 'hex'))) {
          return this.#tampered(String(p.data.bundle.cluster_id), where);
        }
        const age = this.#now() - Date.parse(p.data.bundle.last_seen);
        if (!(age < (this.#o.feedMaxAgeMs ?? 24 * 3600_000)) || p.data.bundle.confidence < (this.#o.feedMinConfidence ?? 0.7)) {
          this.#c.iocStaleOrWeak++;
          return [];
        }
        this.#c.iocVerified++;
        return [this.#ioc(p.data.bundle, true, sanitizeIdentifier(p.data.provider_id))];
      }
      case 'RECORD_KIND_LEGACY_SIGNED_BUNDLE': {
        const p = LegacySignedBundle.safeParse(json);
        if (!p.success) {
          return null;
        }
        const key = await this.#key();
        if (key === null) {
          return [];
        }
        const mac = createHmac('sha256', key).update(legacySigningBytes(p.data)).digest();
        if (!timingSafeEqual(mac, Buffer.from(p.data.hmac, 'hex'))) {
          return this.#tampered(sanitizeIdentifier(p.data.cluster_id), where);
        }
        this.#c.iocVerified++;
        const b = p.data;
        return [
          {
            channel: SOC_CHANNELS.iocBundle,
            payload: {
              source: `glasswally:${sanitizeIdentifier(b.cluster_id)}`,
              format: 'legacy-signed',
              verified: true,
              cluster_id: sanitizeIdentifier(b.cluster_id),
              ips: b.ips.map((s) => sanitizeIdentifier(s, 45)),
              subnets: b.subnets.map((s) => sanitizeIdentifier(s, 45)),
              tls_fingerprints: b.tls_fingerprints.map((s) => sanitizeIdentifier(s)),
              confidence: b.confidence,
              timestamp: sanitizeIdentifier(b.timestamp, 64),
            },
          },
        ];
      }
    }
  }

  async #key(): Promise<Buffer | null> {
    const key = await this.#o.feedKey();
    if (key === null || key.length === 0) {
      // Glasswally signs with "glasswally_dev_key" when given an empty key: refusing an empty key
      // keeps that forgeable default out.
      this.#c.iocUnverifiable++;
      this.#o.logger.warn('glasswally feed key is not configured; signed IOC records are not forwarded');
      return null;
    }
    return key;
  }

  #tampered(clusterId: string, where: { file: string; lineNo: number }): SocPublication[] {
    this.#c.iocRejected++;
    this.#o.audit('security.ioc_bundle_tampered', { clusterId, ...where });
    return this.#alert({
      source: 'glasswally',
      kind: 'gw_ioc_tampered',
      severity: 'HIGH',
      title: `IOC bundle signature is invalid (cluster ${clusterId}): possible tampering`,
      description: `${where.file} line ${where.lineNo}`,
      agentId: null,
      tags: ['glasswally', 'ioc', 'tampered'],
      metadata: { clusterId, ...where },
    });
  }

  #ioc(b: GwIocBundleT, verified: boolean, provider?: string): SocPublication {
    const ids = (xs: string[], max = 256): string[] => xs.map((s) => sanitizeIdentifier(s, max));
    return {
      channel: SOC_CHANNELS.iocBundle,
      payload: {
        source: `glasswally:${b.cluster_id}`,
        format: verified ? 'feed-entry' : 'bundle',
        verified,
        ...(provider !== undefined ? { provider } : {}),
        cluster_id: b.cluster_id,
        ips: ids(b.ip_addresses, 45),
        subnets: ids(b.ip_subnets, 45),
        tls_fingerprints: ids([...b.ja3_hashes, ...b.ja3s_hashes, ...b.h2_fingerprints]),
        account_ids: ids(b.account_ids),
        confidence: b.confidence,
        timestamp: b.timestamp,
      },
    };
  }

  #action(a: GwEnforcementActionT): SocPublication[] {
    const account = a.account_id === null ? null : sanitizeIdentifier(a.account_id);
    const reason = sanitizeText(a.reason);
    const evidence = a.evidence.map((e) => sanitizeText(e));
    const injections = [...reason.injections, ...evidence.flatMap((e) => e.injections)];
    if (injections.length > 0) {
      this.#c.injectionsFiltered++;
      this.#o.audit('security.injection_detected', { source: 'glasswally:reason', accountId: account, patterns: injections });
    }
    const severity = ACTION_SEVERITY[a.action_type];
    const tier = scoreTier(a.composite_score);
    const alerts = this.#alert({
      source: 'glasswally',
      kind: 'gw_action',
      severity,
      title: `[Glasswally] ${a.action_type}: ${account ?? '(no account)'}`,
      description: reason.text,
      agentId: null,
      tags: ['glasswally', 'distillation-attack', a.action_type.toLowerCase(), `score:${tier.toLowerCase()}`, ...(a.cluster_id !== null ? [`cluster:${a.cluster_id}`] : [])],
      metadata: {
        action_type: a.action_type,
        account_id: account,
        cluster_id: a.cluster_id,
        affected_count: a.affected_accounts.length,
        affected_accounts: a.affected_accounts.slice(0, 100).map((s) => sanitizeIdentifier(s)),
        composite_score: a.composite_score,
        score_tier: tier,
        evidence: evidence.map((e) => e.text),
        canary: a.canary_token === null ? null : { token: a.canary_token.token, triggered: a.canary_token.triggered },
        glasswally_timestamp: a.timestamp,
      },
    });
    if (alerts.length === 0) {
      this.#o.audit('security.glasswally_rate_limited', { accountId: account, actionType: a.action_type });
      return [];
    }
    return [
      ...alerts,
      {
        channel: SOC_CHANNELS.enforcement,
        payload: { action_type: a.action_type, account_id: account, composite_score: a.composite_score, severity, cluster_id: a.cluster_id, timestamp: a.timestamp },
      },
    ];
  }

  #alert(a: Omit<SocAlert, 'ts'>): SocPublication[] {
    const now = this.#now();
    if (now - this.#windowStart >= 60_000) {
      this.#windowStart = now;
      this.#windowCount = 0;
    }
    if (a.severity !== 'CRITICAL' && this.#windowCount >= (this.#o.alertsPerMinute ?? 60)) {
      this.#c.alertsRateLimited++;
      return [];
    }
    this.#windowCount++;
    this.#c.alertsPublished++;
    const alert: SocAlert = { ...a, ts: new Date(now).toISOString() };
    if (alert.severity === 'CRITICAL' && alert.source === 'ebpf' && alert.agentId !== null && this.#o.quarantineOnCritical === true) {
      this.#o.onQuarantine?.(alert.agentId, alert);
    }
    return [{ channel: SOC_CHANNELS.alert[alert.severity], payload: alert }];
  }
}
