import { chmod, chown, readFile, realpath, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { EosError, isEosError, PROTOCOL_VERSION, type controlV1 } from '@everythingos/proto';
import { createHash } from 'node:crypto';
import { AgentRunner, type AgentSnapshot } from './agent/agent-runner.js';
import { AgentSandbox } from './agent/agent-sandbox.js';
import { packageClosure } from './agent/package-closure.js';
import { AgentHostCodeCache } from './agent/agent-host-code-cache.js';
import { resolveAgentHostScript } from './agent/agent-host-script.js';
import { actNeedsApproval, assertPreflight, TIER_CONTROLS } from './agent/tier-policy.js';
import { createSafetyControls, toApprovalInfo } from './approvals/safety-controls.js';
import { UidAllocator } from './agent/uid-allocator.js';
import { EventBus } from './bus/event-bus.js';
import type { AgentSpec, DaemonConfig } from './config/schema.js';
import { agentPaths, assertTraversable, ensureDir } from './fs-layout.js';
import { readAgentPackage, type AgentPackage } from './manifest/read-agent-package.js';
import { AgentServer } from './rpc/agent-server.js';
import { newAuthCounters, type AuthCounters } from './rpc/auth-counters.js';
import { ControlServer } from './rpc/control-server.js';
import type { LogTap } from './logs/log-tap.js';
import { StateStore } from './state/state-store.js';
import { DaemonMetrics } from './metrics/daemon-metrics.js';
import { startMetricsServer } from './metrics/metrics-server.js';
import { createServices, ledgerDirs, type SecurityServices } from './services.js';
import { queryLedger } from './ledger/index.js';
import { startKernelWatch } from './kernel-watch.js';
import type { HelperHandle } from './helper/index.js';
import type { RunnerEvent } from './agent/agent-runner.js';
import type { AgentState } from './agent/agent-state.js';
import { RssSampler } from './metrics/rss-sampler.js';
import { MAX_SOCKET_PATH_BYTES } from './config/schema.js';
import { installAgentPackage } from './packages/agent-installer.js';
import { InstalledAgents, specOf } from './packages/installed-agents.js';
import type { InstallRequest } from './rpc/control-server.js';

/** Version of the daemon, reported by `eosd status`. */
export const EOSD_VERSION = '0.1.0';

export interface SupervisorOptions {
  config: DaemonConfig;
  logger: Logger;
  /** Where `eosd logs` reads recent and new lines from; the root logger must write to it too. */
  logTap?: LogTap;
  /** Re-reads the config for `eosd reload` / SIGHUP (the file and the command-line overrides). */
  reloadConfig?: () => Promise<DaemonConfig>;
  /** Operator override (`--accept-ledger-reset`): start although a ledger is missing or regressed. */
  acceptLedgerReset?: boolean;
  metrics?: DaemonMetrics;
  /** npm for `eosd agents add` (registry dependencies of a package). @defaultValue npm from a standard PATH */
  npm?: { bin: string; env: NodeJS.ProcessEnv };
}

/** An npm install of a package's registry dependencies is killed after this, ms (5 min). */
const NPM_INSTALL_TIMEOUT_MS = 300_000;

/** The SDK agents import; resolved from every agent package even when not declared. */
const SDK_PACKAGE = '@everythingos/sdk';
/** Pause between RSS sweeps of the agent processes; a reported RSS is at most this plus one sweep old. */
const RSS_SAMPLE_INTERVAL_MS = 1000;

/** A running daemon: agents, bus, control socket. */
export interface Supervisor {
  readonly controlSocketPath: string;
  /** Starts every autostart agent; resolves when each is running or has failed its first start. */
  start(): Promise<void>;
  /** Stops every agent (graceful, then forced), closes the sockets. Idempotent. */
  stop(reason?: string): Promise<void>;
  bus: EventBus;
  readonly services: SecurityServices;
  /** URL of the /metrics endpoint, when enabled. */
  readonly metricsUrl: string | undefined;
  /** Applies a re-read config's agent list (SIGHUP, `eosd reload`). */
  reload(): Promise<controlV1.ReloadResponse>;
  /** Whether the daemon is healthy enough to ping the service watchdog. */
  health(): Promise<{ healthy: boolean; reason?: string }>;
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

/**
 * The config's agents plus the installed ones (`eosd agents add`).
 * @throws EosError `EOS_CONFIG_INVALID` when the config file declares an id that is installed.
 */
function withInstalled(config: DaemonConfig, installed: InstalledAgents): DaemonConfig {
  const clash = installed.list().filter((a) => config.agents.some((s) => s.id === a.id));
  if (clash.length > 0) {
    throw new EosError(
      'EOS_CONFIG_INVALID',
      `invalid config (${config.source}): agent ${clash.map((a) => `"${a.id}"`).join(', ')} is also installed with eosd agents add; an id is either in the config file or installed: remove it from the config file (or, with the daemon running on the old config, eosd agents remove it)`,
    );
  }
  return { ...config, agents: [...config.agents, ...installed.specs()] };
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
  const installed = await InstalledAgents.open(config.stateDir);
  const allAgents = withInstalled(config, installed);
  const packages = await loadAgentPackages(allAgents);
  /** Ids that come from the config file (as last loaded or reloaded). */
  let configIds = new Set(config.agents.map((a) => a.id));

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
  // One parent cgroup per daemon instance (keyed by its state dir), so daemons never share one.
  const instance = createHash('sha256').update(config.stateDir).digest('hex').slice(0, 12);
  const sandbox = await AgentSandbox.create({
    stateDir: config.stateDir,
    config: config.sandbox,
    logger: log.child({ unit: 'sandbox' }),
    cgroupParent: `eosd-${instance}`,
  });
  if (config.dev && sandbox.plan.missing.length > 0) {
    log.warn({ mode: sandbox.plan.mode, missing: sandbox.plan.missing }, 'dev mode: agents run in the best sandbox this host offers without the missing layers (see eosd doctor)');
  }
  const metrics = opts.metrics ?? new DaemonMetrics();
  metrics.buildInfo.set({ version: EOSD_VERSION, protocol: String(PROTOCOL_VERSION) }, 1);
  for (const [layer, v] of Object.entries(sandbox.status().layers)) {
    metrics.sandboxLayer.set({ layer }, v.active ? 1 : 0);
  }
  const services = await createServices({ config, logger, metrics, acceptLedgerReset: opts.acceptLedgerReset === true });
  const AGENT_STATES: AgentState[] = ['starting', 'running', 'stopping', 'stopped', 'backoff', 'errored'];
  const onRunnerEvent = (e: RunnerEvent): void => {
    if (e.type === 'transition') {
      for (const st of AGENT_STATES) {
        metrics.agentState.set({ agent_id: e.agentId, state: st }, st === e.to ? 1 : 0);
      }
      metrics.agentUp.set({ agent_id: e.agentId }, e.to === 'running' ? 1 : 0);
      if (e.event === 'backoff-elapsed') {
        metrics.agentRestarts.inc({ agent_id: e.agentId });
      }
      void services.audit('agent.state', e.agentId, { from: e.from, to: e.to, event: e.event, reason: e.reason });
    } else {
      const kind = e.kind ?? (e.signal !== null ? 'signal' : e.exitCode === 0 ? 'clean' : 'crash');
      metrics.agentExits.inc({ agent_id: e.agentId, kind });
      void services.audit('agent.exit', e.agentId, { exitCode: e.exitCode, signal: e.signal, uptimeMs: e.uptimeMs, kind });
      // Credentials are per process: whatever the agent was granted dies with it.
      void services.vault.revokeAllFor(e.agentId).catch((err: unknown) => log.error({ err, agentId: e.agentId }, 'credential revocation failed'));
    }
  };
  const authCounters: AuthCounters = newAuthCounters();
  const bus = new EventBus({ ...config.bus, logger: log.child({ unit: 'bus' }) });
  const hostScript = await resolveAgentHostScript(log);
  const hostPath = hostScript.path;
  const hostPkgDir = hostScript.packageDir;
  // As root only: the caches are then written by root alone and read-only for every agent uid.
  const codeCache =
    hostScript.codeCacheable && isRoot
      ? new AgentHostCodeCache({ loaderPath: hostPath, dir: join(config.stateDir, 'code-cache'), logger: log.child({ component: 'code-cache' }) })
      : null;
  const startedAtMs = Date.now();
  const runners = new Map<string, AgentRunner>();
  // Control RPCs and scrapes read agent RSS from this cache, not /proc per call (at most ~1 s + one sweep old).
  const rss = new RssSampler({
    pids: () => [...runners.values()].map((r) => r.livePid),
    intervalMs: RSS_SAMPLE_INTERVAL_MS,
    concurrency: 8,
    log: log.child({ unit: 'rss-sampler' }),
  });
  const agentByUid = new Map<number, string>();
  const servers = new Map<string, AgentServer>();
  /** What each agent was prepared from, to tell a changed agent on reload. */
  const preparedFrom = new Map<string, string>();
  const auditDir = ledgerDirs(config.stateDir).audit;
  const safety = await createSafetyControls({
    config,
    log,
    sandboxFull: sandbox.status().full,
    sink: {
      record: (kind, agentId, payload) => services.audit(kind, agentId, payload as Record<string, unknown>, { durable: true }),
      recent: (agentId, limit) => Promise.resolve(queryLedger(auditDir, { agent: agentId, limit: 100_000 }).slice(-limit)),
    },
    revokeCredentials: async (id) => {
      await services.vault.revokeAllFor(id);
    },
    runners: () => [...runners.values()],
    stopAgent: (id, reason) => runner(id).stop(reason),
  });

  try {
    for (const spec of allAgents.agents) {
      const pkg = packages.get(spec.id);
      if (pkg === undefined) {
        continue;
      }
      const runner = await prepareAgent(spec, pkg);
      runners.set(spec.id, runner);
    }
  } catch (err) {
    await Promise.all([...servers.values()].map((s) => s.close()));
    await services.close();
    throw err;
  }

  async function prepareAgent(spec: AgentSpec, pkg: AgentPackage): Promise<AgentRunner> {
    const paths = agentPaths(config.runDir, config.stateDir, spec.id);
    const uid = uids === undefined ? undefined : await uids.uidFor(spec.id);
    if (uid !== undefined) {
      agentByUid.set(uid, spec.id);
    }
    const owner = uid === undefined ? undefined : { uid, gid: uid };
    await ensureDir(paths.socketDir, isRoot ? 0o750 : 0o700, owner === undefined ? undefined : { uid: 0, gid: owner.gid });
    await ensureDir(paths.stateDir, dirMode);
    await ensureDir(paths.homeDir, 0o700, owner);
    const homeImage = await sandbox.prepareHome(spec, paths.stateDir, uid);
    // The bundle needs only its own directory; the agent's code needs its package and the SDK it imports.
    const readOnlyDirs = hostScript.bundled
      ? [dirname(hostPath), ...(await packageClosure([pkg.dir], [SDK_PACKAGE]))]
      : await packageClosure([hostPkgDir, pkg.dir], [SDK_PACKAGE]);
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
      manifest: pkg.manifest,
      spec,
      services,
      observe: (method, code, seconds) => {
        metrics.rpcCalls.inc({ service: 'agent', method, code });
        metrics.rpcDuration.observe({ service: 'agent', method }, seconds);
      },
      mayDeliver: () => {
        if (safety.estop.isActive) {
          throw new EosError('EOS_ESTOP_ACTIVE', `emergency stop is engaged (${safety.estop.state.reason}); the act of agent ${spec.id} is not delivered`);
        }
      },
      gateAct: (channel, payloadSha256) => {
        if (!actNeedsApproval(spec.tier, channel, config.approvals.gatedChannels)) {
          // Synchronous, so the ungated acts of one frame share a ledger group commit.
          return 'approved';
        }
        const t0 = Date.now();
        return safety.approvals.gate(spec.id, { channel, payloadSha256 }).then((outcome) => {
          metrics.approvalWait.observe((Date.now() - t0) / 1000);
          return outcome;
        });
      },
      log: log.child({ agentId: spec.id }),
      agentLog,
    });
    services.egress.setAgentPolicy(spec.id, { allowedHosts: [...pkg.manifest.egress.allowedHosts] });
    servers.set(spec.id, server);
    preparedFrom.set(spec.id, JSON.stringify({ spec, manifest: pkg.manifest, entryPath: pkg.entryPath }));
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
      sandbox,
      socketDir: paths.socketDir,
      uid,
      homeDir: paths.homeDir,
      agentHostPath: hostPath,
      readOnlyDirs,
      homeImage,
      codeCache,
      log: log.child({ agentId: spec.id }),
      onEvent: onRunnerEvent,
      memory: rss,
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

  /** Removes an agent entirely: process, socket, bus registration, egress policy. */
  async function retire(id: string, reason: string): Promise<void> {
    await runners.get(id)?.close(reason);
    await servers.get(id)?.close();
    runners.delete(id);
    servers.delete(id);
    preparedFrom.delete(id);
    bus.unregisterAgent(id);
    services.egress.removeAgentPolicy(id);
    await sandbox.releaseHome(agentPaths(config.runDir, config.stateDir, id).homeDir);
  }

  let reloading: Promise<controlV1.ReloadResponse> | undefined;
  async function reload(): Promise<controlV1.ReloadResponse> {
    if (opts.reloadConfig === undefined) {
      throw new EosError('EOS_UNIMPLEMENTED', 'this daemon was started without a config file to reload');
    }
    const next = withInstalled(await opts.reloadConfig(), installed);
    const nextPackages = await loadAgentPackages(next);
    const restartRequired = (Object.keys(next) as (keyof DaemonConfig)[]).filter(
      (k) => k !== 'agents' && k !== 'source' && JSON.stringify(next[k]) !== JSON.stringify(config[k]),
    );
    if (restartRequired.length > 0) {
      log.warn({ keys: restartRequired }, 'daemon settings changed; restart eosd to apply them (agents are reloaded now)');
    }
    const wanted = new Map(next.agents.map((a) => [a.id, a]));
    const result: controlV1.ReloadResponse = { added: [], removed: [], changed: [], unchanged: [], restartRequired };
    for (const id of [...runners.keys()]) {
      if (!wanted.has(id)) {
        await retire(id, 'removed from the config');
        result.removed?.push(id);
      }
    }
    for (const spec of next.agents) {
      const pkg = nextPackages.get(spec.id);
      if (pkg === undefined) {
        continue;
      }
      const fingerprint = JSON.stringify({ spec, manifest: pkg.manifest, entryPath: pkg.entryPath });
      const existing = preparedFrom.get(spec.id);
      if (existing === fingerprint) {
        result.unchanged?.push(spec.id);
        continue;
      }
      if (existing !== undefined) {
        await retire(spec.id, 'changed in the config');
        result.changed?.push(spec.id);
      } else {
        result.added?.push(spec.id);
      }
      const r = await prepareAgent(spec, pkg);
      runners.set(spec.id, r);
      if (spec.autostart) {
        r.start().catch((err: unknown) => log.error({ err, agentId: spec.id, code: isEosError(err) ? err.code : undefined }, 'agent failed to start'));
      }
    }
    configIds = new Set(next.agents.filter((a) => installed.get(a.id) === undefined).map((a) => a.id));
    log.info({ ...result }, 'config reloaded');
    void services.audit('daemon.reload', undefined, { ...result });
    return result;
  }

  /** Reload, install and remove change the set of agents: they run one at a time, in order. */
  let agentSetTail: Promise<unknown> = Promise.resolve();
  function serially<T>(op: () => Promise<T>): Promise<T> {
    const p = agentSetTail.then(op, op);
    // The next operation waits for this one whatever its outcome; the caller gets the outcome from `p`.
    agentSetTail = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  /** One reload at a time: a second request while one runs gets the same result. */
  function reloadOnce(): Promise<controlV1.ReloadResponse> {
    reloading ??= serially(reload).finally(() => {
      reloading = undefined;
    });
    return reloading;
  }

  let daemonSdk: { dir: string; version: string } | undefined;
  /** The SDK agent-host runs agents with: installed agents import this copy. */
  async function sdk(): Promise<{ dir: string; version: string }> {
    if (daemonSdk === undefined) {
      const pkgJson = createRequire(join(hostPkgDir, 'package.json')).resolve(`${SDK_PACKAGE}/package.json`);
      const { version } = JSON.parse(await readFile(pkgJson, 'utf8')) as { version: string };
      daemonSdk = { dir: await realpath(dirname(pkgJson)), version };
    }
    return daemonSdk;
  }

  async function install(req: InstallRequest): Promise<controlV1.InstallAgentResponse> {
    const { dir: sdkDir, version: sdkVersion } = await sdk();
    const result = await installAgentPackage({
      stateDir: config.stateDir,
      tarball: req.tarball,
      sdkDir,
      sdkVersion,
      npm: { bin: opts.npm?.bin ?? 'npm', env: opts.npm?.env ?? { PATH: '/usr/local/bin:/usr/bin:/bin' }, timeoutMs: NPM_INSTALL_TIMEOUT_MS },
      log: log.child({ op: 'install' }),
      accept: (pkg) => {
        const id = pkg.manifest.id;
        if (configIds.has(id)) {
          throw new EosError('EOS_ALREADY_EXISTS', `agent "${id}" is configured in ${config.source}; an id is either in the config file or installed`);
        }
        if (installed.get(id) !== undefined || runners.has(id)) {
          throw new EosError('EOS_ALREADY_EXISTS', `agent "${id}" is already installed; run eosd agents remove ${id} first`);
        }
        const socketBytes = Buffer.byteLength(agentPaths(config.runDir, config.stateDir, id).socketPath);
        if (socketBytes > MAX_SOCKET_PATH_BYTES) {
          throw new EosError('EOS_INVALID_ARGUMENT', `agent "${id}" would have a ${socketBytes}-byte socket path; the limit is ${MAX_SOCKET_PATH_BYTES}`);
        }
      },
    });
    const { pkg, integrity, packageName, version, dependencies } = result;
    const id = pkg.manifest.id;
    const spec = specOf({ id, tier: pkg.manifest.tier, autostart: req.start, ...(req.restart === undefined ? {} : { restart: req.restart }) }, installed.layout.packageDir(id));
    try {
      runners.set(id, await prepareAgent(spec, pkg));
      await installed.add({ id, packageName, version, integrity, source: req.source, installedAtMs: Date.now(), tier: spec.tier, autostart: spec.autostart, restart: spec.restart });
    } catch (err) {
      await retire(id, 'install failed');
      await rm(result.installDir, { recursive: true, force: true });
      throw err;
    }
    await services.audit('agent.install', id, { packageName, version, integrity, source: req.source, tier: spec.tier, dependencies }, { durable: true });
    log.info({ agentId: id, packageName, version, integrity }, 'agent installed');
    if (req.start) {
      try {
        await guardedStart(id, (r) => r.start());
      } catch (err) {
        const code = isEosError(err) ? err.code : 'EOS_INTERNAL';
        throw new EosError(code, `agent "${id}" is installed but did not start: ${(err as Error).message}`, { cause: err });
      }
    }
    return { agent: toInfo(await runner(id).snapshot()), packageDir: pkg.dir };
  }

  async function remove(id: string): Promise<controlV1.RemoveAgentResponse> {
    if (configIds.has(id)) {
      throw new EosError('EOS_ILLEGAL_STATE', `agent "${id}" comes from the config file ${config.source}; delete it there and run eosd reload`);
    }
    const rec = installed.get(id);
    if (rec === undefined) {
      throw new EosError('EOS_NOT_FOUND', `no installed agent "${id}"`);
    }
    await retire(id, 'removed by the operator');
    await installed.remove(id);
    await rm(installed.layout.installDir(id), { recursive: true, force: true });
    await services.audit('agent.remove', id, { packageName: rec.packageName, version: rec.version, integrity: rec.integrity }, { durable: true });
    log.info({ agentId: id, packageName: rec.packageName, integrity: rec.integrity }, 'agent removed');
    return { id, integrity: rec.integrity };
  }

  function toInfo(s: AgentSnapshot): controlV1.AgentInfo {
    const rec = installed.get(s.id);
    return { ...s, origin: rec === undefined ? 'config' : 'installed', integrity: rec?.integrity ?? '', packageName: rec?.packageName ?? '' };
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
          sandboxJson: Buffer.from(JSON.stringify(sandbox.status())),
          ledgerJson: Buffer.from(
            JSON.stringify({
              audit: { size: services.auditLedger.size, degraded: services.auditLedger.degraded },
              decisions: { size: services.decisionLedger.size, degraded: services.decisionLedger.degraded },
            }),
          ),
          metricsUrl: metricsServer?.url ?? '',
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
      ...(opts.logTap === undefined ? {} : { logTap: opts.logTap }),
      reload: reloadOnce,
      install: (req) => serially(() => install(req)),
      remove: (id) => serially(() => remove(id)),
      fingerprintModel: async (model) => {
        const r = await services.modelGuard.fingerprint(model, (req) => services.llm.probe(model, req));
        if (r.drift) {
          log.warn({ model, fingerprintHash: r.fingerprintHash }, 'model behaviour drifted from its signed baseline');
        }
        await services.audit('model.fingerprint', undefined, { model, fingerprintHash: r.fingerprintHash, drift: r.drift, baselineRecorded: r.baselineRecorded, failedProbes: r.failedProbes }, { durable: true });
        return r;
      },
    },
    log.child({ unit: 'control' }),
    (method, code, seconds) => {
      metrics.rpcCalls.inc({ service: 'control', method, code });
      metrics.rpcDuration.observe({ service: 'control', method }, seconds);
    },
  );
  await control.listen();
  await chmod(controlSocketPath, 0o600);

  let lastBus = bus.counters();
  let lastAuth = { ...authCounters };
  const lastAgent = new Map<string, { published: number; delivered: number; dropped: number; aclDenied: number }>();
  // Assigned once the helper starts (after the metrics server): a scrape before then sees no helper.
  const helperRef: { current?: HelperHandle } = {};
  let lastHelper: Record<string, number> = {};
  const syncMetrics = async (): Promise<void> => {
    const helper = helperRef.current;
    if (helper !== undefined) {
      const c = helper.counters();
      const now: Record<string, number> = {
        received: c.helper.received,
        dropped: c.helper.dropped,
        lost_kernel: c.helper.lostKernel,
        frames_accepted: c.framesAccepted,
        frames_rejected: c.framesRejected,
        alerts_published: c.alertsPublished,
        alerts_rate_limited: c.alertsRateLimited,
        restarts: c.restarts,
      };
      for (const [event, n] of Object.entries(now)) {
        metrics.helperEvents.inc({ event }, Math.max(0, n - (lastHelper[event] ?? 0)));
      }
      lastHelper = now;
      metrics.helperUp.set(c.state === 'running' ? 1 : 0);
    }
    metrics.approvalsPending.set(safety.approvals.list().filter((a) => a.state === 'pending').length);
    const b = bus.counters();
    metrics.rateLimited.inc({ scope: 'any' }, b.rateLimited - lastBus.rateLimited);
    lastBus = b;
    for (const [reason, n] of Object.entries(authCounters)) {
      metrics.authFailures.inc({ reason }, n - (lastAuth[reason as keyof typeof lastAuth] ?? 0));
    }
    lastAuth = { ...authCounters };
    for (const r of runners.values()) {
      const c = bus.agentCounters(r.id);
      if (c !== undefined) {
        const prev = lastAgent.get(r.id) ?? { published: 0, delivered: 0, dropped: 0, aclDenied: 0 };
        metrics.eventsPublished.inc({ agent_id: r.id }, c.published - prev.published);
        metrics.eventsDelivered.inc({ agent_id: r.id }, c.delivered - prev.delivered);
        metrics.eventsDropped.inc({ agent_id: r.id }, c.dropped - prev.dropped);
        metrics.aclDenials.inc({ agent_id: r.id, action: 'any' }, c.aclDenied - prev.aclDenied);
        lastAgent.set(r.id, c);
      }
      const snap = await r.snapshot();
      // From the agent's cgroup when it has one (the whole tree); from /proc of its process otherwise.
      const usage = snap.pid > 0 ? await sandbox.usage(r.id) : null;
      metrics.agentMemoryBytes.set({ agent_id: r.id }, usage?.memoryBytes ?? snap.memoryBytes);
      metrics.agentCpuSeconds.set({ agent_id: r.id }, usage?.cpuSeconds ?? (snap.pid > 0 ? await cpuSeconds(snap.pid) : 0));
    }
  };
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
  if (config.metrics.listen !== null) {
    const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(config.metrics.listen);
    metricsServer = await startMetricsServer(metrics, { host: m?.[1] ?? '127.0.0.1', port: Number(m?.[2] ?? 9464) }, log, syncMetrics);
    log.info({ url: metricsServer.url }, 'metrics listening');
  }

  const helper = await startKernelWatch({
    config,
    services,
    bus,
    log,
    isRoot,
    agentForUid: (uid) => agentByUid.get(uid),
    tierOf: (id) => runners.get(id)?.spec.tier,
    onKernelAlarm: (agentId, tier, alarm) => {
      void safety.quarantine.onKernelAlarm(agentId, tier, alarm).catch((err: unknown) => log.error({ err, agentId }, 'kernel-alarm quarantine failed'));
    },
  });
  helperRef.current = helper;

  let stopping: Promise<void> | undefined;
  return {
    controlSocketPath,
    bus,
    services,
    metricsUrl: metricsServer?.url,
    reload: reloadOnce,
    async health() {
      if (services.auditLedger.degraded || services.decisionLedger.degraded) {
        return { healthy: false, reason: 'ledger degraded' };
      }
      if (stopping !== undefined) {
        return { healthy: false, reason: 'stopping' };
      }
      return { healthy: true };
    },
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
      rss.start();
      control.setServing(true);
    },
    stop(reason = 'daemon stopping') {
      stopping ??= (async () => {
        control.setServing(false);
        await rss.stop();
        await safety.approvals.close(reason);
        await Promise.all([...runners.values()].map((r) => r.close(reason)));
        await Promise.all([...servers.values()].map((s) => s.close()));
        await sandbox.close();
        await helper?.stop();
        await control.close();
        await metricsServer?.close();
        await services.close();
        await rm(controlSocketPath, { force: true });
      })();
      return stopping;
    },
  };
}

/** User + system CPU time of a process, seconds (from /proc/<pid>/stat, in clock ticks of 100 Hz). */
async function cpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    // The process exited between the snapshot and the read.
    return 0;
  }
}
