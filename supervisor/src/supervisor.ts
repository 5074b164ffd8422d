import { chmod, chown, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { EosError, isEosError, PROTOCOL_VERSION, type controlV1 } from '@everythingos/proto';
import { AgentRunner, type AgentSnapshot } from './agent/agent-runner.js';
import { assertPreflight, TIER_CONTROLS } from './agent/tier-policy.js';
import { createSafetyControls, toApprovalInfo } from './approvals/safety-controls.js';
import { UidAllocator } from './agent/uid-allocator.js';
import { EventBus } from './bus/event-bus.js';
import type { AgentSpec, DaemonConfig } from './config/schema.js';
import { agentPaths, assertTraversable, ensureDir } from './fs-layout.js';
import { readAgentPackage, type AgentPackage } from './manifest/read-agent-package.js';
import { AgentServer } from './rpc/agent-server.js';
import { newAuthCounters, type AuthCounters } from './rpc/auth-counters.js';
import { ControlServer } from './rpc/control-server.js';
import { StateStore } from './state/state-store.js';

/** Version of the daemon, reported by `eosd status`. */
export const EOSD_VERSION = '0.1.0';

export interface SupervisorOptions {
  config: DaemonConfig;
  logger: Logger;
}

/** A running daemon: agents, bus, control socket. */
export interface Supervisor {
  readonly controlSocketPath: string;
  /** Starts every autostart agent; resolves when each is running or has failed its first start. */
  start(): Promise<void>;
  /** Stops every agent (graceful, then forced), closes the sockets. Idempotent. */
  stop(reason?: string): Promise<void>;
  bus: EventBus;
}

function agentHostPath(): string {
  const pkgJson = fileURLToPath(import.meta.resolve('@everythingos/agent-host/package.json'));
  return join(dirname(pkgJson), 'dist', 'bin', 'agent-host.js');
}

/** Probes a Unix socket: true when something accepts connections on it. */
function isListening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function toInfo(s: AgentSnapshot): controlV1.AgentInfo {
  return { ...s };
}

/**
 * Loads every agent package of the config as data and checks it against its config entry.
 * @throws EosError `EOS_CONFIG_INVALID` listing every problem of every agent at once.
 */
export async function loadAgentPackages(config: DaemonConfig): Promise<Map<string, AgentPackage>> {
  const problems: string[] = [];
  const out = new Map<string, AgentPackage>();
  await Promise.all(
    config.agents.map(async (spec) => {
      try {
        const pkg = await readAgentPackage(spec.package);
        if (pkg.manifest.id !== spec.id) {
          problems.push(`agent "${spec.id}": the package at ${spec.package} declares id "${pkg.manifest.id}"`);
        }
        if (pkg.manifest.tier !== spec.tier) {
          problems.push(`agent "${spec.id}": config tier "${spec.tier}" differs from the manifest tier "${pkg.manifest.tier}"`);
        }
        out.set(spec.id, pkg);
      } catch (err) {
        problems.push(`agent "${spec.id}": ${(err as Error).message}`);
      }
    }),
  );
  if (problems.length > 0) {
    throw new EosError('EOS_CONFIG_INVALID', `invalid config (${config.source}): ${problems.length} agent problem(s):\n- ${problems.join('\n- ')}`, {
      details: { problems },
    });
  }
  return out;
}

/**
 * Builds and binds a daemon from a validated config: refuses to run agent code as root, loads
 * and validates every agent package before anything starts, then binds the control socket.
 * @throws EosError `EOS_CONFIG_INVALID`, `EOS_PERMISSION_DENIED`, `EOS_ALREADY_EXISTS` (another
 *   daemon serves the control socket).
 */
export async function createSupervisor(opts: SupervisorOptions): Promise<Supervisor> {
  const { config, logger } = opts;
  const log = logger.child({ component: 'supervisor' });
  const isRoot = process.getuid?.() === 0;
  if (!isRoot && !config.dev) {
    throw new EosError('EOS_PERMISSION_DENIED', 'eosd must run as root to give every agent its own uid; use --dev to run without root');
  }
  const packages = await loadAgentPackages(config);

  const dirMode = isRoot ? 0o711 : 0o700;
  if (isRoot) {
    await assertTraversable(config.runDir);
    await assertTraversable(config.stateDir);
  }
  await ensureDir(config.stateDir, dirMode);
  await ensureDir(config.runDir, dirMode);
  await ensureDir(join(config.runDir, 'agents'), dirMode);
  await ensureDir(join(config.stateDir, 'agents'), dirMode);

  const controlSocketPath = join(config.runDir, 'control.sock');
  if (await isListening(controlSocketPath)) {
    throw new EosError('EOS_ALREADY_EXISTS', `another eosd serves ${controlSocketPath}; stop it first`);
  }
  await rm(controlSocketPath, { force: true });

  const uids = isRoot ? await UidAllocator.open(config.stateDir, config.uidRange) : undefined;
  const authCounters: AuthCounters = newAuthCounters();
  const bus = new EventBus({ ...config.bus, logger: log.child({ unit: 'bus' }) });
  const hostPath = agentHostPath();
  const startedAtMs = Date.now();
  const runners = new Map<string, AgentRunner>();
  const servers: AgentServer[] = [];
  const safety = await createSafetyControls({
    config,
    log,
    runners: () => [...runners.values()],
    stopAgent: (id, reason) => runner(id).stop(reason),
  });

  try {
    for (const spec of config.agents) {
      const pkg = packages.get(spec.id);
      if (pkg === undefined) {
        continue;
      }
      const runner = await prepareAgent(spec, pkg);
      runners.set(spec.id, runner);
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    throw err;
  }

  async function prepareAgent(spec: AgentSpec, pkg: AgentPackage): Promise<AgentRunner> {
    const paths = agentPaths(config.runDir, config.stateDir, spec.id);
    const uid = uids === undefined ? undefined : await uids.uidFor(spec.id);
    const owner = uid === undefined ? undefined : { uid, gid: uid };
    await ensureDir(paths.socketDir, isRoot ? 0o750 : 0o700, owner === undefined ? undefined : { uid: 0, gid: owner.gid });
    await ensureDir(paths.stateDir, dirMode);
    await ensureDir(paths.homeDir, 0o700, owner);
    await rm(paths.socketPath, { force: true });
    const agentLog = logger.child({ component: 'agent', agentId: spec.id });
    const server = new AgentServer({
      agentId: spec.id,
      socketPath: paths.socketPath,
      manifestJson: Buffer.from(JSON.stringify(pkg.manifest)),
      entryPath: pkg.entryPath,
      tickRateMs: pkg.manifest.tickRateMs,
      heartbeatIntervalMs: spec.heartbeatIntervalMs,
      bus,
      state: new StateStore(paths.stateDir),
      authCounters,
      log: log.child({ agentId: spec.id }),
      agentLog,
    });
    servers.push(server);
    await server.listen();
    await chmod(paths.socketPath, 0o600);
    if (owner !== undefined) {
      await chown(paths.socketPath, owner.uid, owner.gid);
    }
    bus.registerAgent(spec.id, { publish: new Set(pkg.manifest.publish), subscribe: new Set(pkg.manifest.subscribe) }, spec.rateLimit);
    return new AgentRunner({
      spec,
      pkg,
      server,
      socketPath: paths.socketPath,
      uid,
      homeDir: paths.homeDir,
      agentHostPath: hostPath,
      log: log.child({ agentId: spec.id }),
      startGate: () => {
        safety.estop.assertInactive(spec.id);
        safety.quarantine.assertNotQuarantined(spec.id);
        assertPreflight({
          agentId: spec.id,
          configTier: spec.tier,
          allowModel: spec.allowModel,
          manifest: pkg.manifest,
          approverCount: safety.approvals.approverCount,
          sandboxFull: safety.sandboxFull,
        });
      },
      ...(TIER_CONTROLS[spec.tier].quarantineOnCrashLoop
        ? { onGiveUp: () => safety.quarantineInBackground(spec.id, 'restart intensity exceeded', 'restart-policy') }
        : {}),
    });
  }

  async function guardedStart(id: string, op: (r: AgentRunner) => Promise<void>): Promise<controlV1.AgentInfo> {
    const r = runner(id);
    safety.estop.assertInactive(id);
    await safety.quarantine.requireRelease(id);
    await op(r);
    return toInfo(await r.snapshot());
  }

  function runner(id: string): AgentRunner {
    const r = runners.get(id);
    if (r === undefined) {
      throw new EosError('EOS_NOT_FOUND', `no agent "${id}" is configured`);
    }
    return r;
  }

  const control = new ControlServer(
    controlSocketPath,
    {
      status: async () => {
        const snaps = await Promise.all([...runners.values()].map((r) => r.snapshot()));
        return {
          version: EOSD_VERSION,
          pid: process.pid,
          startedAtMs,
          devMode: config.dev,
          agentsTotal: snaps.length,
          agentsRunning: snaps.filter((s) => s.state === 'running').length,
          busJson: Buffer.from(JSON.stringify(bus.counters())),
          protocolVersion: PROTOCOL_VERSION,
          authJson: Buffer.from(JSON.stringify(authCounters)),
        };
      },
      list: async () => (await Promise.all([...runners.values()].map((r) => r.snapshot()))).map(toInfo),
      get: async (id) => toInfo(await runner(id).snapshot()),
      start: (id) => guardedStart(id, (r) => r.start()),
      stop: async (id) => {
        const r = runner(id);
        await r.stop();
        return toInfo(await r.snapshot());
      },
      restart: (id) => guardedStart(id, (r) => r.restart()),
      listApprovals: () => Promise.resolve(safety.approvals.list().map(toApprovalInfo)),
      decideApproval: async (d, source) => toApprovalInfo(await safety.approvals.decide(d, source)),
      emergencyStop: async (reason) => {
        const agentsStopped = await safety.estop.engage(reason);
        return { estop: safety.estopInfo(), agentsStopped };
      },
      clearEmergencyStop: async () => {
        const view = await safety.estop.requestClear();
        return { estop: safety.estopInfo(), ...(view === undefined ? {} : { approval: toApprovalInfo(view) }) };
      },
      quarantine: async (id, reason) => {
        const r = runner(id);
        const snapshotDir = await safety.quarantine.quarantine(id, reason === '' ? 'operator quarantine' : reason, 'operator');
        return { agent: toInfo(await r.snapshot()), snapshotDir };
      },
    },
    log.child({ unit: 'control' }),
  );
  await control.listen();
  await chmod(controlSocketPath, 0o600);

  let stopping: Promise<void> | undefined;
  return {
    controlSocketPath,
    bus,
    async start() {
      await Promise.all(
        [...runners.values()]
          .filter((r) => r.spec.autostart)
          .map((r) =>
            r.start().catch((err: unknown) => {
              log.error({ err, agentId: r.id, code: isEosError(err) ? err.code : undefined }, 'agent failed to start');
            }),
          ),
      );
      control.setServing(true);
    },
    stop(reason = 'daemon stopping') {
      stopping ??= (async () => {
        control.setServing(false);
        await safety.approvals.close(reason);
        await Promise.all([...runners.values()].map((r) => r.close(reason)));
        await Promise.all(servers.map((s) => s.close()));
        await control.close();
        await rm(controlSocketPath, { force: true });
      })();
      return stopping;
    },
  };
}
