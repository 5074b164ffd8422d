import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { chmod, mkdtemp, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { createControlClient, type ControlClient, type DaemonConfigInput } from '@everythingos/supervisor';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const EOSD_BIN = join(ROOT, 'supervisor', 'dist', 'bin', 'eosd.js');
export const EXAMPLES = join(ROOT, 'examples');

export function fixtureAgent(name: string): string {
  return join(ROOT, 'test', 'fixtures', 'agents', name);
}

export type LogLine = Record<string, unknown> & { msg?: string };

/** Collects a process's NDJSON stdout (parsed) and raw stderr, and waits for lines. */
export class OutputCollector {
  readonly lines: LogLine[] = [];
  raw = '';
  #waiters = new Set<() => void>();

  constructor(child: ChildProcess) {
    let buf = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.raw += chunk;
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          this.lines.push({ raw: line });
        }
      }
      for (const w of this.#waiters) {
        w();
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.raw += chunk;
    });
  }

  /** Resolves with the first line matching `pred`; the timeout error carries all output so far. */
  waitFor(pred: (l: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    const err = new Error('timed out waiting for a log line');
    Error.captureStackTrace(err, this.waitFor);
    return new Promise((resolvePromise, reject) => {
      const check = (): boolean => {
        const hit = this.lines.find(pred);
        if (hit !== undefined) {
          this.#waiters.delete(onData);
          clearTimeout(timer);
          resolvePromise(hit);
          return true;
        }
        return false;
      };
      const onData = (): void => {
        check();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(onData);
        err.message += `\n--- output so far ---\n${this.raw.slice(-20_000)}`;
        reject(err);
      }, timeoutMs);
      if (!check()) {
        this.#waiters.add(onData);
      }
    });
  }

  count(pred: (l: LogLine) => boolean): number {
    return this.lines.filter(pred).length;
  }
}

/** A short private directory agents (other uids) can traverse. */
export async function tmpDir(): Promise<string> {
  const dir = await mkdtemp('/tmp/eosd-');
  await chmod(dir, 0o711);
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface RunningDaemon {
  child: ChildProcess;
  dir: string;
  out: OutputCollector;
  client: ControlClient;
  controlSocket: string;
}

/** Runs `eosd` with arbitrary arguments to completion. */
export async function runEosd(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [EOSD_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** The parent cgroup name of the daemon on `stateDir`, as the supervisor derives it. */
export function daemonCgroupName(stateDir: string): string {
  return `eosd-${createHash('sha256').update(stateDir).digest('hex').slice(0, 12)}`;
}

/**
 * Removes the cgroups a daemon on `stateDir` made (`eosd-<sha256(stateDir)[:12]>` under every mounted
 * hierarchy), deepest first. A daemon stopped gracefully removes them itself; one killed with SIGKILL
 * cannot, and its state dir is gone after the test, so no later daemon would reuse and clean them.
 * Agents die with the daemon (lifeline, pdeathsig), so their groups empty out within moments.
 */
async function removeDaemonCgroups(stateDir: string): Promise<void> {
  const name = daemonCgroupName(stateDir);
  const roots = ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'];
  for (const c of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    roots.push(join('/sys/fs/cgroup', c));
  }
  const removeTree = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => null);
    if (entries === null) {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) {
        await removeTree(join(dir, e.name));
      }
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await rmdir(dir);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || attempt >= 50 || code !== 'EBUSY') {
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  for (const root of new Set(roots)) {
    await removeTree(join(root, name));
  }
}

/** Agent home mounts (`<stateDir>/agents/<id>/home`) in this mount namespace, from /proc/self/mountinfo. */
export async function agentHomeMounts(stateDir: string): Promise<{ mountPoint: string; source: string; options: string }[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const agents = join(stateDir, 'agents');
  const out: { mountPoint: string; source: string; options: string }[] = [];
  for (const line of info.split('\n')) {
    const f = line.split(' ');
    const mountPoint = (f[4] ?? '').replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (dirname(dirname(mountPoint)) === agents && mountPoint.endsWith('/home')) {
      const sep = f.indexOf('-');
      out.push({ mountPoint, source: f[sep + 2] ?? '', options: f[5] ?? '' });
    }
  }
  return out;
}

/**
 * Unmounts the agent homes a daemon on `stateDir` left mounted: one stopped gracefully unmounts
 * them itself; one killed with SIGKILL cannot, and a later daemon on the same state dir would.
 * Lazy, so the loop devices (autoclear) are freed once the dead agents' namespaces are gone.
 */
async function removeDaemonHomeMounts(stateDir: string): Promise<void> {
  if (process.getuid?.() !== 0) {
    return;
  }
  for (const m of await agentHomeMounts(stateDir)) {
    await promisify(execFile)('umount', ['-l', m.mountPoint]).catch((err: unknown) => {
      process.stderr.write(`cannot unmount ${m.mountPoint}: ${String(err)}\n`);
    });
  }
}

/**
 * Agents import the SDK's one-file main entry (sdk/dist/bundle/index.js), which `pnpm build` makes
 * after `tsc -b` from the SDK's and proto's compiled output. After a change to sdk/ or proto/ and a
 * plain `npx tsc -b`, it is stale: agents would run the old SDK. Fail loudly instead.
 */
async function assertSdkBundleFresh(): Promise<void> {
  const bundle = join(ROOT, 'sdk', 'dist', 'bundle', 'index.js');
  const bundleMs = (await stat(bundle).catch(() => null))?.mtimeMs;
  for (const pkg of ['sdk', 'proto']) {
    const compiledMs = (await stat(join(ROOT, pkg, 'dist', '.tsbuildinfo')).catch(() => null))?.mtimeMs ?? 0;
    if (bundleMs === undefined || compiledMs > bundleMs) {
      throw new Error(`${bundle} is missing or older than ${pkg}'s compiled code: run \`pnpm build\` (or \`node sdk/scripts/bundle.mjs\` after \`npx tsc -b\`)`);
    }
  }
}

/** Starts the built daemon on a config and waits for 'supervisor ready'. Cleans up after the test. */
export async function startDaemon(
  config: DaemonConfigInput,
  opts: { waitReady?: boolean; reuseDir?: string; extraArgs?: string[] } = {},
): Promise<RunningDaemon> {
  await assertSdkBundleFresh();
  const dir = opts.reuseDir ?? (await tmpDir());
  const configPath = join(dir, 'eosd.json');
  await writeFile(
    configPath,
    JSON.stringify({ dev: true, stateDir: join(dir, 's'), runDir: join(dir, 'r'), metrics: { listen: '127.0.0.1:0' }, ...config }),
  );
  const child = spawn(process.execPath, [EOSD_BIN, 'start', '--config', configPath, ...(opts.extraArgs ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, EOSD_LOG_LEVEL: 'debug' },
  });
  const out = new OutputCollector(child);
  const controlSocket = join(dir, 'r', 'control.sock');
  const client = createControlClient(controlSocket);
  const stateDir = (config as { stateDir?: string }).stateDir ?? join(dir, 's');
  onTestFinished(async () => {
    client.close();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await once(child, 'exit');
      clearTimeout(timer);
    }
    await removeDaemonCgroups(stateDir);
    await removeDaemonHomeMounts(stateDir);
  });
  if (opts.waitReady !== false) {
    await out.waitFor((l) => l.msg === 'supervisor ready', 30_000);
  }
  return { child, dir, out, client, controlSocket };
}

/** Whether a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
