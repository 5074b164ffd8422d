import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Buckets for RPC latency, seconds: 50 µs … 5 s. */
const RPC_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Buckets for fsync latency, seconds: 100 µs … 1 s. */
const FSYNC_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/**
 * Every metric eosd exports, on its own registry. Names follow Prometheus conventions
 * (`eosd_` prefix, base units, `_total` counters); labels are bounded: agent ids come from the
 * config, methods and codes from the proto, reasons and categories from closed sets.
 */
export class DaemonMetrics {
  readonly registry = new Registry();

  readonly buildInfo = this.#gauge('eosd_build_info', 'eosd version and protocol; always 1', ['version', 'protocol']);
  readonly agentState = this.#gauge('eosd_agent_state', '1 for the state the agent is in, 0 for the others', ['agent_id', 'state']);
  readonly agentUp = this.#gauge('eosd_agent_up', '1 when the agent is running', ['agent_id']);
  readonly agentRestarts = this.#counter('eosd_agent_restarts_total', 'restarts of the agent since the daemon started', ['agent_id']);
  readonly agentCpuSeconds = this.#gauge('eosd_agent_cpu_seconds', 'CPU time used by the agent cgroup (or process)', ['agent_id']);
  readonly agentMemoryBytes = this.#gauge('eosd_agent_memory_bytes', 'memory charged to the agent cgroup (or its RSS)', ['agent_id']);
  readonly agentExits = this.#counter('eosd_agent_exits_total', 'agent process exits by classification', ['agent_id', 'kind']);

  readonly rpcCalls = this.#counter('eosd_rpc_calls_total', 'agent and control RPCs by method and result code', ['service', 'method', 'code']);
  readonly rpcDuration = new Histogram({
    name: 'eosd_rpc_duration_seconds',
    help: 'time to serve an RPC',
    labelNames: ['service', 'method'],
    buckets: RPC_BUCKETS,
    registers: [this.registry],
  });

  readonly eventsPublished = this.#counter('eosd_events_published_total', 'events accepted by the bus', ['agent_id']);
  readonly eventsDelivered = this.#counter('eosd_events_delivered_total', 'events written to a subscriber', ['agent_id']);
  readonly eventsDropped = this.#counter('eosd_events_dropped_total', 'events dropped by a full subscriber queue', ['agent_id']);
  readonly aclDenials = this.#counter('eosd_acl_denials_total', 'publish, subscribe and act calls refused by the manifest ACL', ['agent_id', 'action']);
  readonly authFailures = this.#counter('eosd_auth_failures_total', 'agent calls refused by call authentication', ['reason']);
  readonly rateLimited = this.#counter('eosd_rate_limited_total', 'events refused by a rate limit', ['scope']);

  readonly sanitizerDetections = this.#counter('eosd_sanitizer_detections_total', 'injection detections by category', ['category']);
  readonly egressRequests = this.#counter('eosd_egress_requests_total', 'egress decisions', ['decision']);
  readonly llmCalls = this.#counter('eosd_llm_calls_total', 'model calls by model and outcome', ['model', 'outcome']);
  readonly llmTokens = this.#counter('eosd_llm_tokens_total', 'model tokens by model and direction', ['model', 'direction']);
  readonly vaultGrants = this.#counter('eosd_vault_events_total', 'vault grants, uses, expiries, revocations and denials', ['event']);

  readonly approvalsPending = this.#gauge('eosd_approvals_pending', 'approval requests waiting for a decision', []);
  readonly approvalWait = new Histogram({
    name: 'eosd_approval_wait_seconds',
    help: 'time from approval request to decision',
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [this.registry],
  });

  readonly ledgerRecords = this.#counter('eosd_ledger_records_total', 'records appended to the ledgers', ['stream']);
  readonly ledgerFsync = new Histogram({
    name: 'eosd_ledger_fsync_seconds',
    help: 'fdatasync latency of ledger group commits',
    labelNames: ['stream'],
    buckets: FSYNC_BUCKETS,
    registers: [this.registry],
  });
  readonly ledgerLastCheckpoint = this.#gauge('eosd_ledger_last_checkpoint_timestamp_seconds', 'time of the latest signed checkpoint', ['stream']);
  readonly ledgerDegraded = this.#gauge('eosd_ledger_degraded', '1 when the ledger failed closed after a write error', ['stream']);

  readonly helperEvents = this.#counter(
    'eosd_helper_events_total',
    'eBPF helper: events received, dropped and lost in the kernel (its own report), frames accepted and rejected by the supervisor, alerts published and rate-limited, restarts',
    ['event'],
  );
  readonly helperUp = this.#gauge('eosd_helper_up', '1 while the eBPF helper is running and connected', []);

  readonly sandboxLayer = this.#gauge('eosd_sandbox_layer_active', '1 when an agent started now gets this sandbox layer', ['layer']);

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      // prom-client also exports these gauges under a `_total` name, which Prometheus reserves
      // for counters (promtool flags them); the same values stay under the names without it.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
        this.registry.removeSingleMetric(name);
      }
    }
  }

  /** The exposition text. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  #counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  #gauge<L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }
}
