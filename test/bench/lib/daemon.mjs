// Starts the built eosd daemon on a generated config, as the e2e helper does, for benchmarks.
import { chmod, cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createControlClient } from '@everythingos/supervisor';
import { spawnNdjson } from './procs.mjs';

export const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const EOSD_BIN = join(ROOT, 'supervisor', 'dist', 'bin', 'eosd.js');

/** Absolute directory of a bench fixture agent package. */
export function fixture(name) {
  return join(ROOT, 'test', 'fixtures', 'agents', name);
}

/**
 * A scratch directory for generated agent packages, next to the fixtures so they resolve
 * `@everythingos/sdk` from the workspace. Packages must hold their whole code (the sandbox mounts an
 * agent's own package, not files it re-exports from elsewhere), and parameter files go into the
 * package, not the agent's home (the home is a fresh image mounted over the directory).
 * Remove it with `rm(dir, { recursive: true, force: true })`.
 */
export async function packagesDir() {
  const dir = await mkdtemp(join(ROOT, 'test', 'fixtures', 'agents', '.bench-'));
  await chmod(dir, 0o755);
  return dir;
}

/** Copies fixture `name` into `dir` and adds `files` (name to content); returns the copy's path. */
export async function copyFixture(dir, name, files = {}) {
  const pkgDir = join(dir, name);
  await cp(fixture(name), pkgDir, { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    await writeFile(join(pkgDir, file), content, { mode: 0o644 });
  }
  return pkgDir;
}

/** Whether this run gives agents their own uid (root) or shares the daemon's (dev mode). */
export const IS_ROOT = process.getuid?.() === 0;

/**
 * The environment eosd gives agent-host (supervisor/src/agent/agent-sandbox.ts, less HOME), for
 * the bare-node baselines: node reads some variables at start (NODE_EXTRA_CA_CERTS costs about 33 ms
 * per start on the project's machine, where it is set), and an agent never gets them, so a
 * baseline spawned with the bench's own environment would measure a slower node than the agent runs.
 */
export const AGENT_ENV = Object.freeze({ PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' });

/** Names of the NODE_* variables in the bench's environment (which agents do not get). */
export function inheritedNodeVars() {
  return Object.keys(process.env).filter((k) => k.startsWith('NODE_'));
}

/**
 * Runs eosd on `config` (agents, bus...; dirs are filled in). Not in dev mode when root, so the
 * agents run under their own uids as in production. `extraEnv` adds to the daemon's environment
 * (e.g. NODE_OPTIONS for profiling).
 */
export async function startDaemon(config, { extraEnv = {}, nodeArgs = [], readyTimeoutMs = 120_000 } = {}) {
  const dir = await mkdtemp('/tmp/eosd-bench-');
  await chmod(dir, 0o711);
  const stateDir = join(dir, 's');
  const runDir = join(dir, 'r');
  const configPath = join(dir, 'eosd.json');
  await writeFile(configPath, JSON.stringify({ dev: !IS_ROOT, stateDir, runDir, logLevel: 'info', metrics: { listen: null }, ...config }));
  const proc = spawnNdjson(process.execPath, [...nodeArgs, EOSD_BIN, 'start', '--config', configPath], {
    env: { ...process.env, ...extraEnv },
    cwd: dir,
  });
  let client;
  const stop = async () => {
    client?.close();
    await proc.kill('SIGTERM', 20_000);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await proc.waitFor((l) => l.msg === 'supervisor ready', readyTimeoutMs, 'supervisor ready');
    client = createControlClient(join(runDir, 'control.sock'));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    proc,
    dir,
    client,
    stop,
  };
}
