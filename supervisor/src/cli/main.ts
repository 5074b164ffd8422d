import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import yargs, { type Argv } from 'yargs';
import { EosError, isEosError } from '@everythingos/proto';
import { loadConfig } from '../config/load-config.js';
import { createSupervisor, EOSD_VERSION } from '../supervisor.js';
import { registerApprovalCommands } from './approval-commands.js';
import { createControlClient, type ControlClient } from './control-client.js';
import { agentJson, renderAgentsTable } from './format.js';

/** Exit status for configuration errors (sysexits.h EX_CONFIG). */
export const EXIT_CONFIG = 78;

/** What the CLI needs from the process; `bin/eosd.ts` passes the real ones. */
export interface CliIo {
  argv: string[];
  env: NodeJS.ProcessEnv;
  out: (text: string) => void;
  err: (text: string) => void;
  /** Creates the daemon's root logger (NDJSON on stdout). */
  createLogger: (level: string) => Logger;
  /** Resolves when the daemon should stop: first SIGINT/SIGTERM; a second one calls `force`. */
  onStopSignal: (graceful: (signal: string) => void, force: () => void) => void;
  exit: (code: number) => void;
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
      (y: Argv) => y.option('dev', { type: 'boolean', default: false, describe: 'run without root; state under --state-dir (default ./.eosd)' }),
      async (args) => {
        const configPath = args.config as string | undefined;
        const overrides = {
          ...(args.dev ? { dev: true } : {}),
          ...(args['state-dir'] === undefined ? {} : { stateDir: args['state-dir'] as string }),
        };
        const { parseConfig } = await import('../config/load-config.js');
        const config =
          configPath === undefined ? parseConfig({}, '(no config file)', process.cwd(), overrides) : await loadConfig(configPath, overrides);
        const logger = io.createLogger(io.env.EOSD_LOG_LEVEL ?? config.logLevel);
        const sup = await createSupervisor({ config, logger });
        const log = logger.child({ component: 'supervisor' });
        let stopped = false;
        const done = new Promise<void>((resolveDone) => {
          io.onStopSignal(
            (signal) => {
              if (stopped) {
                return;
              }
              stopped = true;
              log.info({ signal }, 'supervisor stopping');
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
        log.info({ controlSocket: sup.controlSocketPath, dev: config.dev, agents: config.agents.length }, 'supervisor ready');
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
            ].join('\n'),
          );
        }),
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
        .demandCommand(1, 'name an agents subcommand: ls, start, stop, restart, quarantine'),
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
