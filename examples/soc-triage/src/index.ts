import { Agent, type AgentEvent } from '@everythingos/sdk';

type Severity = 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW' | 'INFO';

/** The alert shape the supervisor publishes on `soc.alert.<severity>` (already validated and sanitized there). */
interface SocAlert {
  source: string;
  kind: string;
  severity: Severity;
  title: string;
  description: string;
  agentId: string | null;
  tags: string[];
  metadata: Record<string, unknown>;
  ts: string;
}

interface IocBundle {
  source: string;
  verified: boolean;
  ips: string[];
  subnets: string[];
  tls_fingerprints: string[];
}

/** Same alert again within this window is counted, not re-raised (the predecessor's AlertTriageAgent used 5 min). */
const DEDUP_WINDOW_MS = 5 * 60_000;
/** Bound on remembered alert keys, so an alert flood cannot grow memory without limit. */
const MAX_KEYS = 10_000;
const ALERT_CHANNELS = ['soc.alert.critical', 'soc.alert.high', 'soc.alert.medium', 'soc.alert.low', 'soc.alert.info'] as const;

/**
 * Example SOC agent. Subscribes to the alert channels the supervisor fills from the ebpf-helper
 * (Glasswally actions, kernel events about agents, helper health), deduplicates them by
 * source, kind, agent and title within five minutes, opens an incident on `soc.incident` for every
 * new CRITICAL alert, keeps verified IOC indicators, and publishes a summary every tick.
 */
export default class SocTriageAgent extends Agent {
  readonly #lastSeen = new Map<string, number>();
  readonly #counts: Record<Severity, number> = { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, INFO: 0 };
  #duplicates = 0;
  #indicators = 0;

  protected override async onStart(): Promise<void> {
    for (const channel of ALERT_CHANNELS) {
      await this.subscribe<SocAlert>(channel, (e) => this.#onAlert(e));
    }
    await this.subscribe<IocBundle>('soc.ioc.bundle', (e) => {
      if (!e.payload.verified) {
        this.log('debug', 'unverified ioc bundle noted', { source: e.payload.source });
        return;
      }
      this.#indicators += e.payload.ips.length + e.payload.subnets.length + e.payload.tls_fingerprints.length;
    });
  }

  protected override async onTick(): Promise<void> {
    await this.emit('soc.triage.summary', { counts: { ...this.#counts }, duplicates: this.#duplicates, indicators: this.#indicators, at: Date.now() });
  }

  async #onAlert(e: AgentEvent<SocAlert>): Promise<void> {
    const a = e.payload;
    const key = `${a.source}|${a.kind}|${a.agentId ?? '-'}|${a.title}`;
    const now = Date.now();
    const last = this.#lastSeen.get(key);
    if (last !== undefined && now - last < DEDUP_WINDOW_MS) {
      this.#duplicates++;
      return;
    }
    if (this.#lastSeen.size >= MAX_KEYS) {
      const oldest = this.#lastSeen.keys().next().value;
      if (oldest !== undefined) {
        this.#lastSeen.delete(oldest);
      }
    }
    this.#lastSeen.delete(key);
    this.#lastSeen.set(key, now);
    this.#counts[a.severity]++;
    if (a.severity === 'CRITICAL') {
      this.log('warn', 'critical alert', { kind: a.kind, agentId: a.agentId, title: a.title });
      await this.emit('soc.incident', { opened: now, severity: a.severity, kind: a.kind, agentId: a.agentId, title: a.title, tags: a.tags }, { priority: 'critical' });
    }
  }
}
