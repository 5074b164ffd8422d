// Starts the built eosd daemon on a generated config, as the e2e helper does, for benchmarks.
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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

/** Whether this run gives agents their own uid (root) or shares the daemon's (dev mode). */
export const IS_ROOT = process.getuid?.() === 0;

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
    /** The agent's home (its cwd); created here so the bench can leave a parameter file in it. */
    async agentHome(id) {
      const home = join(stateDir, 'agents', id, 'home');
      await mkdir(home, { recursive: true });
      return home;
    },
  };
}
