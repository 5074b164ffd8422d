import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import yargs, { type Argv } from 'yargs';
import { EosError, isEosError } from '@everythingos/proto';
import { loadConfig, parseConfig } from '../config/load-config.js';
import type { DaemonConfig } from '../config/schema.js';
import { createSupervisor, EOSD_VERSION } from '../supervisor.js';
import { LogTap } from '../logs/log-tap.js';
import { registerApprovalCommands } from './approval-commands.js';
import { createControlClient, type ControlClient } from './control-client.js';
import { formatLogLine } from './format-log.js';
import { ledgerCommands } from './ledger-commands.js';
import { runSanitize, secretsCommands } from './security-commands.js';
import { SdNotifier } from '../systemd/sd-notifier.js';
import { renderServiceUnit } from '../systemd/service-unit.js';
import { writeFileAtomic } from '../state/atomic-write.js';
import { fileURLToPath } from 'node:url';

/** The eosd entry script, for ExecStart (node + script: no reliance on a bin shim in PATH). */
const EOSD_SCRIPT = fileURLToPath(new URL('../bin/eosd.js', import.meta.url));
import { renderDoctor, runDoctor } from './doctor.js';
import { agentJson, renderAgentsTable } from './format.js';
import { runNewAgent, type Ask } from './new-agent.js';
import { packSource } from './package-source.js';

/** Exit status for configuration errors (sysexits.h EX_CONFIG). */
export const EXIT_CONFIG = 78;

/** What the CLI needs from the process; `bin/eosd.ts` passes the real ones. */
export interface CliIo {
  argv: string[];
  env: NodeJS.ProcessEnv;
  out: (text: string) => void;
  err: (text: string) => void;
  /** Creates the daemon's root logger (NDJSON on stdout, and into the tap `eosd logs` reads). */
  createLogger: (level: string, tap: LogTap) => Logger;
  /** Whether stdout is a terminal (human formatting) or not (NDJSON). */
  isTty: boolean;
  /** All of standard input (for `eosd sanitize` and `eosd secrets set`). */
  readStdin: () => Promise<Buffer>;
  /** Calls `reload` on SIGHUP. */
  onReloadSignal: (reload: () => void) => void;
  /** Resolves when the daemon should stop: first SIGINT/SIGTERM; a second one calls `force`. */
  onStopSignal: (graceful: (signal: string) => void, force: () => void) => void;
  exit: (code: number) => void;
  /** Directory relative paths resolve against (`eosd new` writes there). */
  cwd: string;
  /** Asks the user a question; present only when stdin is an interactive terminal. */
  ask?: Ask;
}

interface GlobalArgs {
  socket?: string;
  config?: string;
  'state-dir'?: string;
  json?: boolean;
}

async function controlSocket(args: GlobalArgs, env: NodeJS.ProcessEnv): Promise<string> {
  if (args.socket !== undefined) {
    return resolve(args.socket);
  }
  if (env.EOSD_SOCKET !== undefined && env.EOSD_SOCKET !== '') {
    return resolve(env.EOSD_SOCKET);
  }
  if (args.config !== undefined) {
    const config = await loadConfig(args.config, args['state-dir'] === undefined ? {} : { stateDir: args['state-dir'] });
    return join(config.runDir, 'control.sock');
  }
  if (args['state-dir'] !== undefined) {
    return join(resolve(args['state-dir']), 'run', 'control.sock');
  }
  return '/run/eosd/control.sock';
}

/** Runs the `eosd` command line. Never throws: failures print a message and set the exit code. */
export async function runCli(io: CliIo): Promise<void> {
  const withClient = async (args: object, fn: (c: ControlClient) => Promise<void>): Promise<void> => {
    const client = createControlClient(await controlSocket(args as GlobalArgs, io.env));
    try {
      await fn(client);
    } finally {
      client.close();
    }
  };
  const printAgent = (args: object, verb: string, a: Awaited<ReturnType<ControlClient['getAgent']>>): void => {
    io.out((args as GlobalArgs).json ? JSON.stringify(agentJson(a)) : `${verb} ${a.id}: ${a.state}${a.pid ? ` (pid ${a.pid})` : ''}`);
  };

  const parser = yargs(io.argv)
    .scriptName('eosd')
    .version(EOSD_VERSION)
    .option('socket', { type: 'string', describe: 'control socket path (default: from --config, or /run/eosd/control.sock)' })
    .option('config', { type: 'string', describe: 'daemon config file (YAML or JSON)' })
    .option('state-dir', { type: 'string', describe: 'state directory (with --dev: everything lives under it)' })
    .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' })
    .command(
      'start',
      'run the daemon in the foreground',
      (y: Argv) =>
        y
          .option('dev', { type: 'boolean', default: false, describe: 'run without root; state under --state-dir (default ./.eosd)' })
          .option('accept-ledger-reset', {
            type: 'boolean',
            default: false,
            describe: 'start although a ledger is missing, regressed or fails verification (moved aside and recorded)',
          })
          .option('allow-degraded-sandbox', {
            type: 'boolean',
            default: false,
            describe: 'start HIGH-tier agents even when a sandbox layer is missing (see eosd doctor)',
          }),
      async (args) => {
        const configPath = args.config as string | undefined;
        const overrides = {
          ...(args.dev ? { dev: true } : {}),
          ...(args['state-dir'] === undefined ? {} : { stateDir: args['state-dir'] as string }),
        };
        // Read at start and again on every reload, with the same command-line overrides.
        const readConfig = async (): Promise<DaemonConfig> => {
          const loaded =
            configPath === undefined ? parseConfig({}, '(no config file)', process.cwd(), overrides) : await loadConfig(configPath, overrides);
          return args['allow-degraded-sandbox'] === true ? { ...loaded, sandbox: { ...loaded.sandbox, allowDegradedHighTier: true } } : loaded;
        };
        const config = await readConfig();
        const logTap = new LogTap();
        const logger = io.createLogger(io.env.EOSD_LOG_LEVEL ?? config.logLevel, logTap);
        const sup = await createSupervisor({
          config,
          logger,
          logTap,
          acceptLedgerReset: Boolean(args['accept-ledger-reset']),
          reloadConfig: readConfig,
          npm: { bin: 'npm', env: io.env },
        });
        const log = logger.child({ component: 'supervisor' });
        const notifier = new SdNotifier({ env: io.env, logger: log });
        let stopped = false;
        const done = new Promise<void>((resolveDone) => {
          io.onStopSignal(
            (signal) => {
              if (stopped) {
                return;
              }
              stopped = true;
              log.info({ signal }, 'supervisor stopping');
              notifier.stopWatchdog();
              void notifier.stopping();
              void sup.stop(`signal ${signal}`).then(() => {
                log.info({}, 'supervisor stopped');
                resolveDone();
              });
            },
            () => {
              log.warn({}, 'second signal: exiting without waiting for agents');
              io.exit(1);
            },
          );
        });
        await sup.start();
        log.info({ controlSocket: sup.controlSocketPath, dev: config.dev, agents: config.agents.length, metrics: sup.metricsUrl }, 'supervisor ready');
        // Readiness only now: control socket, ledgers and the configured agents are up.
        await notifier.ready(`${config.agents.length} agent(s) configured`);
        notifier.startWatchdog(() => sup.health());
        io.onReloadSignal(() => {
          void notifier.reloading();
          sup.reload().then(
            () => notifier.ready('reloaded'),
            (err: unknown) => {
              log.error({ err, code: isEosError(err) ? err.code : undefined }, 'reload failed; the running agents are unchanged');
              return notifier.ready('reload failed');
            },
          );
        });
        await done;
      },
    )
    .command(
      'status',
      'show the daemon status',
      (y: Argv) => y,
      (args) =>
        withClient(args, async (c) => {
          const s = await c.getStatus();
          const bus = JSON.parse(s.busJson.toString('utf8') || '{}') as Record<string, number>;
          const auth = JSON.parse(s.authJson.toString('utf8') || '{}') as Record<string, number>;
          const ledger = JSON.parse(s.ledgerJson.toString('utf8') || '{}') as Record<string, { size: number; degraded: boolean }>;
          const sandbox = JSON.parse(s.sandboxJson.toString('utf8') || '{}') as { mode?: string; missing?: string[] };
          if (args.json) {
            io.out(
              JSON.stringify({
                version: s.version,
                pid: s.pid,
                startedAtMs: s.startedAtMs,
                devMode: s.devMode,
                protocolVersion: s.protocolVersion,
                agents: { total: s.agentsTotal, running: s.agentsRunning },
                bus,
                authFailures: auth,
                ledger,
                metricsUrl: s.metricsUrl,
                sandbox,
              }),
            );
            return;
          }
          io.out(
            [
              `eosd ${s.version} (pid ${s.pid}${s.devMode ? ', dev mode' : ''}), protocol ${s.protocolVersion}`,
              `agents: ${s.agentsRunning}/${s.agentsTotal} running`,
              `bus: ${Object.entries(bus).map(([k, v]) => `${k}=${v}`).join(' ')}`,
              `auth failures: ${Object.entries(auth).map(([k, v]) => `${k}=${v}`).join(' ')}`,
              `ledger: ${Object.entries(ledger).map(([k, v]) => `${k} ${v.size} records${v.degraded ? ' DEGRADED' : ''}`).join(', ')}`,
              `metrics: ${s.metricsUrl || 'off'}`,
              `sandbox: ${sandbox.mode ?? '?'}${(sandbox.missing ?? []).length > 0 ? `, missing ${(sandbox.missing ?? []).join(', ')}` : ', full'}`,
            ].join('\n'),
          );
        }),
    )
    .command(
      'logs [agent]',
      'show the daemon and agent logs (NDJSON when not on a terminal)',
      (y: Argv) =>
        y
          .positional('agent', { type: 'string', describe: 'only this agent' })
          .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'keep printing new lines' })
          .option('lines', { alias: 'n', type: 'number', default: 100, describe: 'recent lines to print first' }),
      (args) =>
        withClient(args, (c) =>
          c.streamLogs({ agentId: (args.agent as string | undefined) ?? '', follow: Boolean(args.follow), tail: Number(args.lines) }, (line) =>
            io.out(io.isTty ? formatLogLine(line) : line),
          ),
        ),
    )
    .command('models', 'the LLM gateway', (y: Argv) =>
      y
        .command(
          'fingerprint <model>',
          'run the behavioural probes against an allowlisted model and compare with its signed baseline',
          (yy: Argv) => yy.positional('model', { type: 'string', demandOption: true, describe: 'provider:model' }),
          (args) =>
            withClient(args, async (c) => {
              const r = await c.fingerprintModel(String(args.model));
              io.out(
                (args as GlobalArgs).json
                  ? JSON.stringify(r)
                  : `${r.model}: ${r.baselineRecorded ? 'baseline recorded' : r.drift ? 'DRIFT from the signed baseline' : 'matches the signed baseline'} (${r.fingerprintHash.slice(0, 16)}…)${r.failedProbes.length > 0 ? `; failed probes: ${r.failedProbes.join(', ')}` : ''}`,
              );
              if (r.drift) {
                io.exit(3);
              }
            }),
        )
        .demandCommand(1, 'name a models subcommand: fingerprint'),
    )
    .command(
      'reload',
      're-read the config: start new agents, stop removed ones, restart changed ones (also on SIGHUP)',
      (y: Argv) => y,
      (args) =>
        withClient(args, async (c) => {
          const r = await c.reload();
          io.out(
            (args as GlobalArgs).json
              ? JSON.stringify(r)
              : [
                  `added: ${r.added.join(', ') || '-'}`,
                  `removed: ${r.removed.join(', ') || '-'}`,
                  `changed: ${r.changed.join(', ') || '-'}`,
                  `unchanged: ${r.unchanged.join(', ') || '-'}`,
                  ...(r.restartRequired.length > 0 ? [`restart eosd to apply: ${r.restartRequired.join(', ')}`] : []),
                ].join('\n'),
          );
        }),
    )
    .command('ledger', 'verify and inspect the ledgers (offline: reads the files)', (y: Argv) => ledgerCommands(y, io))
    .command('service', 'the systemd unit', (y: Argv) =>
      y
        .command('unit', 'print eosd.service with ExecStart pointing at this eosd', (yy: Argv) => yy, async () => {
          io.out(await renderServiceUnit(`${process.execPath} ${EOSD_SCRIPT}`));
        })
        .command(
          'install',
          'write eosd.service (default /etc/systemd/system/eosd.service); then: systemctl daemon-reload && systemctl enable --now eosd',
          (yy: Argv) => yy.option('out', { type: 'string', default: '/etc/systemd/system/eosd.service' }),
          async (args) => {
            const out = String(args.out);
            await writeFileAtomic(out, await renderServiceUnit(`${process.execPath} ${EOSD_SCRIPT}`), 0o644);
            io.out(`wrote ${out}; next: systemctl daemon-reload && systemctl enable --now eosd`);
          },
        )
        .demandCommand(1, 'name a service subcommand: unit, install'),
    )
    .command(
      'sanitize',
      'read text on stdin and print the sanitizer result as JSON',
      (y: Argv) => y,
      () => runSanitize(io),
    )
    .command('secrets', 'manage vault secrets', (y: Argv) => secretsCommands(y, { ...io, createLogger: (level) => io.createLogger(level, new LogTap(1)) }))
    .command(
      'doctor',
      'check this host and report the sandbox layers an agent started now would get',
      (y: Argv) => y,
      async (args) => {
        const report = await runDoctor(io.createLogger('silent', new LogTap(1)));
        io.out(args.json ? JSON.stringify(report) : renderDoctor(report));
      },
    )
    .command(
      'new [name]',
      'create an agent package in the current directory (asks for what is missing on a terminal)',
      (y: Argv) =>
        y
          .positional('name', { type: 'string', describe: 'agent id and package name, e.g. mail-triage' })
          .option('description', { type: 'string', describe: 'what the agent does (at least 10 characters)' })
          .option('tier', { type: 'string', describe: 'risk tier: low, medium or high' })
          .option('risk-justification', { type: 'string', describe: 'why the agent needs its tier (required for high)' })
          .option('dir', { type: 'string', describe: 'parent directory of the package (default: the current directory)' })
          .option('sdk', { type: 'string', describe: 'dependency spec of @everythingos/sdk (default: ^<eosd version>)' })
          .option('supervisor', { type: 'string', describe: 'dependency spec of @everythingos/supervisor (default: ^<eosd version>)' }),
      async (args) => {
        const created = await runNewAgent(
          {
            name: args.name as string | undefined,
            description: args.description as string | undefined,
            tier: args.tier as string | undefined,
            riskJustification: args['risk-justification'] as string | undefined,
            parentDir: resolve(io.cwd, (args.dir as string | undefined) ?? '.'),
            sdkSpec: args.sdk as string | undefined,
            supervisorSpec: args.supervisor as string | undefined,
          },
          io.ask,
          io.err,
        );
        io.out(
          args.json
            ? JSON.stringify(created)
            : [`created ${created.dir}:`, ...created.files.map((f) => `  ${f}`), '', `next: cd ${created.dir} && npm install && npm test`].join('\n'),
        );
      },
    )
    .command('agents', 'manage agents', (y: Argv) =>
      y
        .command(
          ['ls', 'list'],
          'list agents',
          (yy: Argv) => yy,
          (args) =>
            withClient(args, async (c) => {
              const agents = await c.listAgents();
              io.out(args.json ? JSON.stringify(agents.map(agentJson)) : renderAgentsTable(agents, Date.now()));
            }),
        )
        .command(
          'start <id>',
          'start an agent',
          (yy: Argv) => yy.positional('id', { type: 'string', demandOption: true }),
          (args) => withClient(args, async (c) => printAgent(args, 'started', await c.startAgent(String(args.id)))),
        )
        .command(
          'stop <id>',
          'stop an agent',
          (yy: Argv) => yy.positional('id', { type: 'string', demandOption: true }),
          (args) => withClient(args, async (c) => printAgent(args, 'stopped', await c.stopAgent(String(args.id)))),
        )
        .command(
          'restart <id>',
          'restart an agent',
          (yy: Argv) => yy.positional('id', { type: 'string', demandOption: true }),
          (args) => withClient(args, async (c) => printAgent(args, 'restarted', await c.restartAgent(String(args.id)))),
        )
        .command(
          'quarantine <id>',
          'stop an agent, snapshot its state and audit records, revoke its credentials; restarting it needs an approval',
          (yy: Argv) => yy.positional('id', { type: 'string', demandOption: true }).option('reason', { type: 'string', default: 'operator quarantine' }),
          (args) =>
            withClient(args, async (c) => {
              const r = await c.quarantineAgent(String(args.id), String(args.reason));
              io.out(args.json ? JSON.stringify({ id: args.id, snapshotDir: r.snapshotDir }) : `quarantined ${String(args.id)}; snapshot in ${r.snapshotDir}`);
            }),
        )
        .command(
          'add <source>',
          'install an agent package (a directory, a tarball or an npm spec) into the daemon, running none of its scripts, and register it',
          (yy: Argv) =>
            yy
              .positional('source', { type: 'string', demandOption: true, describe: 'package directory, .tgz file, or npm spec (name@version, file:…)' })
              .option('start', { type: 'boolean', default: false, describe: 'start it now and whenever the daemon starts (otherwise: eosd agents start <id>)' })
              .option('restart', { choices: ['permanent', 'transient', 'temporary'], describe: 'restart policy (default: permanent)' }),
          async (args) => {
            const packed = await packSource(String(args.source), { cwd: io.cwd, env: io.env });
            await withClient(args, async (c) => {
              const r = await c.installAgent({
                tarball: packed.tarball,
                source: packed.source,
                start: Boolean(args.start),
                restart: (args.restart as string | undefined) ?? '',
              });
              const a = r.agent;
              if (a === null) {
                throw new EosError('EOS_INTERNAL', 'control response without agent');
              }
              io.out(
                args.json
                  ? JSON.stringify({ ...agentJson(a), installedPackageDir: r.packageDir })
                  : `installed ${a.id} (${a.packageName}@${a.version}, ${a.integrity}) in ${r.packageDir}: ${a.state}${a.state === 'running' ? '' : `; start it with eosd agents start ${a.id}`}`,
              );
            });
          },
        )
        .command(
          ['remove <id>', 'rm <id>'],
          'stop an installed agent, unregister it and delete its installed files (config-file agents are refused)',
          (yy: Argv) => yy.positional('id', { type: 'string', demandOption: true }),
          (args) =>
            withClient(args, async (c) => {
              const r = await c.removeAgent(String(args.id));
              io.out(args.json ? JSON.stringify(r) : `removed ${r.id} (${r.integrity})`);
            }),
        )
        .demandCommand(1, 'name an agents subcommand: ls, start, stop, restart, quarantine, add, remove'),
    );
  registerApprovalCommands(parser, { env: io.env, out: io.out, withClient });
  parser
    .demandCommand(1, 'name a command; see eosd --help')
    .strict()
    .help()
    .exitProcess(false)
    .fail((msg: string | undefined, err: Error | undefined) => {
      throw err ?? new EosError('EOS_INVALID_ARGUMENT', msg ?? 'invalid command line');
    });

  try {
    await parser.parseAsync();
  } catch (err) {
    const code = isEosError(err) ? err.code : undefined;
    io.err(`eosd: ${code ? `${code}: ` : ''}${(err as Error).message}`);
    io.exit(code === 'EOS_CONFIG_INVALID' || code === 'EOS_MANIFEST_INVALID' ? EXIT_CONFIG : 1);
  }
}
