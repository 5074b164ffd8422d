import { z } from 'zod';
import { AGENT_ID, CHANNEL_NAME, RISK_TIERS } from '@everythingos/proto';
import { LlmConfigSchema } from '../llm/llm-config.js';
import { EgressConfig } from '../security/egress/egress-config.js';

/**
 * Longest socket path Linux accepts: `sun_path` is 108 bytes including the NUL. Agent sockets
 * live at `<runDir>/agents/<id>/agent.sock`; the check uses the longest configured id.
 */
export const MAX_SOCKET_PATH_BYTES = 107;

const RateLimit = z.strictObject({
  /** Sustained events per second. */
  eventsPerSec: z.number().positive(),
  /** Events that may be sent at once above the sustained rate. */
  burst: z.number().int().positive(),
});

const Backoff = z.strictObject({
  /** First restart delay, ms. @defaultValue 500 */
  initialMs: z.number().int().min(0).default(500),
  /** Each consecutive failure multiplies the delay by this. @defaultValue 2 */
  factor: z.number().min(1).default(2),
  /** Delay cap, ms. @defaultValue 30000 */
  maxMs: z.number().int().min(0).default(30_000),
  /** ± fraction of random spread on every delay. @defaultValue 0.2 */
  jitter: z.number().min(0).max(1).default(0.2),
  /** Uptime after which the consecutive-failure count resets, ms. @defaultValue 60000 */
  resetAfterMs: z.number().int().min(0).default(60_000),
});

const Limits = z.strictObject({
  /** Memory limit of the agent's cgroup, bytes. @defaultValue 268435456 (256 MiB) */
  memoryBytes: z.number().int().min(32 * 1024 * 1024).default(256 * 1024 * 1024),
  /** Max tasks (threads count) in the agent's cgroup. @defaultValue 128 */
  pids: z.number().int().min(16).default(128),
  /** CPU quota in percent of one core. @defaultValue 100 */
  cpuPercent: z.number().int().min(1).max(10_000).default(100),
  /** Size of the agent's private /tmp, bytes. @defaultValue 67108864 (64 MiB) */
  tmpBytes: z.number().int().min(1024 * 1024).default(64 * 1024 * 1024),
  /** Disk cap of the agent's home (a loop-mounted ext4 image), bytes. @defaultValue 67108864 (64 MiB) */
  homeBytes: z.number().int().min(4 * 1024 * 1024).default(64 * 1024 * 1024),
});

const AgentSandbox = z.strictObject({
  /**
   * Node's permission model inside the sandbox (no child processes, workers, native addons; fs
   * limited to the package, home and /tmp). A seat belt on top of the kernel layers, not a
   * boundary; turning it off leaves the kernel layers in place. @defaultValue true
   */
  nodePermissions: z.boolean().default(true),
});

/** Daemon-wide sandbox settings. */
const SandboxConfig = z.strictObject({
  /**
   * Start HIGH-tier agents even when a required sandbox layer is missing (they are refused with
   * EOS_SANDBOX_UNAVAILABLE otherwise). `eosd start --allow-degraded-sandbox` sets it too. @defaultValue false
   */
  allowDegradedHighTier: z.boolean().default(false),
  /** Give each agent a disk-capped home image (`limits.homeBytes`) when the host can (root, mkfs.ext4). @defaultValue true */
  homeQuota: z.boolean().default(true),
  /**
   * `false` runs agents without bubblewrap's namespaces and seccomp: own uid, no capabilities,
   * no_new_privs and cgroups stay, but the host filesystem and network are visible. For the SDK's
   * testing harness only; `eosd doctor` and the logs say so, and HIGH agents refuse to start. @defaultValue true
   */
  namespaces: z.boolean().default(true),
});

/** One agent the daemon runs. */
export const AgentSpecSchema = z.strictObject({
  id: z.string().regex(AGENT_ID, 'ids are lowercase letters, digits and dashes, start with a letter, at most 63 long'),
  /** Agent package directory (holding package.json); relative paths resolve against the config file. */
  package: z.string().min(1),
  /** Must equal the manifest's tier. */
  tier: z.enum(RISK_TIERS),
  /** Start with the daemon. @defaultValue true */
  autostart: z.boolean().default(true),
  /** permanent: always restarted; transient: restarted after abnormal exits; temporary: never. */
  restart: z.enum(['permanent', 'transient', 'temporary']).default('permanent'),
  /** More than maxRestarts restarts within windowSec → errored. */
  intensity: z
    .strictObject({
      maxRestarts: z.number().int().min(0).default(5),
      windowSec: z.number().int().positive().default(60),
    })
    .prefault({}),
  backoff: Backoff.prefault({}),
  /** From spawn to Ready, module load included, ms. @defaultValue 10000 */
  startTimeoutMs: z.number().int().positive().default(10_000),
  /** Shutdown frame → SIGTERM, ms. @defaultValue 5000 */
  stopGraceMs: z.number().int().min(0).default(5_000),
  /** SIGTERM → SIGKILL, ms. @defaultValue 2000 */
  killTimeoutMs: z.number().int().min(0).default(2_000),
  /** How often agent-host sends a heartbeat, ms. @defaultValue 2000 */
  heartbeatIntervalMs: z.number().int().min(50).default(2_000),
  /** No heartbeat for this long → the agent is hung: killed and handled by its restart policy, ms. @defaultValue 10000 */
  heartbeatTimeoutMs: z.number().int().min(100).default(10_000),
  /** Publish rate limit of this agent. @defaultValue 1000/s, burst 10000 */
  rateLimit: RateLimit.default({ eventsPerSec: 1_000, burst: 10_000 }),
  limits: Limits.prefault({}),
  /** A LOW-tier agent may call models only when its manifest declares a model and this is true. @defaultValue false */
  allowModel: z.boolean().default(false),
  /** Vault secrets this agent may request a credentialId for, each bound to one host. */
  credentials: z
    .array(
      z.strictObject({
        secret: z.string().min(1),
        host: z.string().min(1),
        /** Header the secret goes into. @defaultValue authorization */
        header: z.string().default('authorization'),
        /** Text before the secret in that header. @defaultValue "Bearer " */
        valuePrefix: z.string().default('Bearer '),
      }),
    )
    .default([]),
  sandbox: AgentSandbox.prefault({}),
});

const Approver = z.strictObject({
  /** Key id approvers sign with (`eosd keys approver init --id`). */
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'approver ids are 1-64 letters, digits, ".", "_", "@", "-"'),
  /** Ed25519 public key, base64 (32 bytes), as printed by `eosd keys approver init`. */
  publicKey: z.string().refine((k) => /^[A-Za-z0-9+/]{43}=$/.test(k) && Buffer.from(k, 'base64').length === 32, 'an Ed25519 public key: 32 bytes in base64'),
});

const ApprovalsConfig = z.strictObject({
  /** Public keys allowed to sign approval decisions and the emergency-stop clear. @defaultValue [] */
  approvers: z.array(Approver).default([]),
  /** A pending approval not decided within this is denied, ms. @defaultValue 300000 (5 min) */
  timeoutMs: z.number().int().min(1_000).max(86_400_000).default(300_000),
  /** A signed decision's timeMs must be within this of the supervisor's clock (either side), ms. @defaultValue 120000 */
  freshnessMs: z.number().int().min(1_000).max(3_600_000).default(120_000),
  /** act() on these channels needs an approval for agents of any tier (HIGH agents need one for every act). @defaultValue [] */
  gatedChannels: z.array(z.string().regex(CHANNEL_NAME)).default([]),
  /** Emergency-stop state file; must be absolute. @defaultValue <stateDir>/estop.json */
  estopFile: z.string().startsWith('/', 'estopFile must be an absolute path').optional(),
  /** Which agents a kernel alarm from the eBPF helper quarantines. @defaultValue high */
  quarantineOnKernelAlarm: z.enum(['none', 'high', 'medium-and-high', 'all']).default('high'),
});

const BusConfig = z.strictObject({
  /** Events queued per subscriber before the drop policy applies. @defaultValue 10000 */
  queueCapacity: z.number().int().positive().default(10_000),
  /** Ceiling over all agents together. @defaultValue 200000/s, burst 400000 */
  globalRateLimit: RateLimit.default({ eventsPerSec: 200_000, burst: 400_000 }),
  /** Dead-letter records kept in memory (the oldest are dropped; all are counted). @defaultValue 1000 */
  deadLetterCapacity: z.number().int().min(0).default(1_000),
  /** Largest event payload, bytes. @defaultValue 1048576 */
  maxPayloadBytes: z.number().int().positive().default(1024 * 1024),
});

/** The daemon's configuration file (YAML or JSON). */
export const DaemonConfigSchema = z
  .strictObject({
    /** Run without root: agents share the daemon's uid and the sandbox is reduced. @defaultValue false */
    dev: z.boolean().default(false),
    /** State (agent state, keys, uid map). @defaultValue /var/lib/eosd, or ./.eosd with dev */
    stateDir: z.string().min(1).optional(),
    /** Sockets. @defaultValue /run/eosd, or <stateDir>/run with dev */
    runDir: z.string().min(1).optional(),
    /** uids handed to agents when the daemon runs as root, one per agent. */
    uidRange: z
      .strictObject({
        start: z.number().int().min(1000).default(61_000),
        count: z.number().int().min(1).max(100_000).default(1_000),
      })
      .prefault({}),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
    bus: BusConfig.prefault({}),
    ledger: z
      .strictObject({
        /** Sign a checkpoint after this many records. @defaultValue 1000 */
        checkpointEveryRecords: z.number().int().positive().default(1_000),
        /** …or after this long with new records, ms. @defaultValue 10000 */
        checkpointIntervalMs: z.number().int().positive().default(10_000),
        /** What start verifies: every record (`full`) or what follows the signed head (`tail`). @defaultValue full */
        verifyOnOpen: z.enum(['full', 'tail']).default('full'),
      })
      .prefault({}),
    egress: EgressConfig.prefault({}),
    llm: LlmConfigSchema.prefault({}),
    metrics: z
      .strictObject({
        /** `host:port` for GET /metrics; loopback by default, `null` turns it off. @defaultValue 127.0.0.1:9464 */
        listen: z
          .string()
          .regex(/^(?:\[[0-9a-fA-F:]+\]|[0-9.]+|localhost):\d{1,5}$/, 'host:port, e.g. 127.0.0.1:9464')
          .nullable()
          .default('127.0.0.1:9464'),
      })
      .prefault({}),
    sandbox: SandboxConfig.prefault({}),
    approvals: ApprovalsConfig.prefault({}),
    /** The eBPF helper: Glasswally ingestion (`tail`) and/or kernel watch of agents (`kernel`). */
    ebpf: z
      .strictObject({
        /** `off`, `tail` (reads a Glasswally output directory; unprivileged) or `kernel` (bpftrace; root). @defaultValue off */
        mode: z.enum(['off', 'tail', 'kernel']).default('off'),
        /** Glasswally output directory (tail mode). */
        glasswallyDir: z.string().min(1).optional(),
        /** Vault secret holding the HMAC key of the signed IOC feed (tail mode). */
        feedKeySecret: z.string().min(1).optional(),
        /** uid the tail-mode helper runs as when eosd is root. @defaultValue uidRange.start - 1 */
        helperUid: z.number().int().min(1000).optional(),
        /** SOC alerts per minute before non-critical ones are dropped (all are counted). @defaultValue 60 */
        alertsPerMinute: z.number().int().positive().default(60),
        /** Quarantine an agent on a CRITICAL kernel event (tiers per approvals.quarantineOnKernelAlarm). @defaultValue false */
        quarantineOnCritical: z.boolean().default(false),
      })
      .prefault({}),
    agents: z.array(AgentSpecSchema).default([]),
  })
  .superRefine((c, ctx) => {
    const keyIds = new Set<string>();
    c.approvals.approvers.forEach((a, i) => {
      if (keyIds.has(a.id)) {
        ctx.addIssue({ code: 'custom', path: ['approvals', 'approvers', i, 'id'], message: `duplicate approver id "${a.id}"` });
      }
      keyIds.add(a.id);
    });
    const seen = new Set<string>();
    c.agents.forEach((a, i) => {
      if (seen.has(a.id)) {
        ctx.addIssue({ code: 'custom', path: ['agents', i, 'id'], message: `duplicate agent id "${a.id}"` });
      }
      seen.add(a.id);
      if (a.backoff.maxMs < a.backoff.initialMs) {
        ctx.addIssue({ code: 'custom', path: ['agents', i, 'backoff', 'maxMs'], message: 'maxMs must be >= initialMs' });
      }
      if (a.heartbeatTimeoutMs <= a.heartbeatIntervalMs) {
        ctx.addIssue({
          code: 'custom',
          path: ['agents', i, 'heartbeatTimeoutMs'],
          message: 'heartbeatTimeoutMs must be larger than heartbeatIntervalMs',
        });
      }
    });
  });

export type DaemonConfigInput = z.input<typeof DaemonConfigSchema>;
export type AgentSpecInput = z.input<typeof AgentSpecSchema>;
export type AgentSpec = z.output<typeof AgentSpecSchema>;
/** The validated `approvals` section. */
export type ApprovalsConfig = z.output<typeof ApprovalsConfig>;

/** Validated configuration with every path absolute and every default applied. Frozen. */
export type DaemonConfig = Omit<z.output<typeof DaemonConfigSchema>, 'stateDir' | 'runDir'> & {
  stateDir: string;
  runDir: string;
  /** Where the configuration came from, for messages. */
  source: string;
};
