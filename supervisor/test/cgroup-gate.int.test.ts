// The cgroup gate: the supervisor moves the root wrapper into the agent's cgroups while the wrapper
// starts and mounts the home, and nothing after the wrapper (setpriv, bwrap, agent-host) may start
// before the move. Real processes, real cgroups, root only.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { AgentSandbox, type AgentLaunch } from '../src/agent/agent-sandbox.js';
import { AgentSpecSchema } from '../src/config/schema.js';
import { buildSandboxCommand, CGROUP_JOIN_FAILED_EXIT_CODE } from '../src/sandbox/build-sandbox-command.js';
import { CgroupManager } from '../src/sandbox/cgroup-manager.js';
import { detectNodeRuntime } from '../src/sandbox/node-runtime.js';
import { probeSandbox, type SandboxProbe } from '../src/sandbox/probe-sandbox.js';

const isRoot = process.getuid?.() === 0;
const missing = [
  isRoot ? null : 'root',
  existsSync('/usr/bin/bwrap') ? null : 'bubblewrap (/usr/bin/bwrap)',
  existsSync('/usr/bin/setpriv') ? null : 'setpriv',
].filter((m): m is string => m !== null);
const skipReason = missing.length > 0 ? `needs ${missing.join(', ')}` : '';

if (process.env.CI !== undefined && missing.length > 0) {
  describe('cgroup gate prerequisites', () => {
    it('has root, bubblewrap and setpriv on CI', () => {
      throw new Error(`cgroup gate tests cannot run on CI: ${skipReason}`);
    });
  });
}

const logger = pino({ level: 'silent' });
const UID = 62700 + (process.pid % 50);
const MiB = 1 << 20;

/** A gated, bwrap-less sandbox command for `argv`, with `home` as its home. */
async function gatedCommand(
  who: Pick<Parameters<typeof buildSandboxCommand>[0], 'mode' | 'tools' | 'uid' | 'gid'>,
  argv: string[],
  home: string,
): Promise<ReturnType<typeof buildSandboxCommand>> {
  return buildSandboxCommand({
    ...who,
    cgroupProcsFiles: [],
    cgroupGate: true,
    runtime: await detectNodeRuntime(),
    readOnlyPaths: [],
    home: { host: home },
    socketDir: null,
    tmpfsSizeBytes: 16 * MiB,
    seccomp: false,
    statusFd: false,
    keepFds: [3],
    env: { PATH: '/usr/bin:/bin' },
    program: { kind: 'exec', argv },
  });
}

/** The cgroup path per hierarchy line of /proc/<pid>/cgroup (`id:controllers:path`), e.g. `memory` → `/eosd-x/a`. */
function cgroupPaths(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n').filter(Boolean)) {
    const [, controllers = '', path = ''] = line.split(':');
    out.set(controllers === '' ? 'v2' : controllers, path);
  }
  return out;
}

/** Host pids of `root` and all its descendants (from /proc/<pid>/stat). */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) {
      continue;
    }
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      // The process exited while we listed /proc: it is not part of a live tree.
      continue;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop() as number;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

function collect(stream: Readable | null | undefined): () => string {
  let text = '';
  stream?.setEncoding('utf8').on('data', (d: string) => (text += d));
  return () => text;
}

describe.skipIf(missing.length > 0)(`cgroup gate${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let base: string;
  let probe: SandboxProbe;
  const parent = `eosd-gate-test-${process.pid}`;

  beforeAll(async () => {
    base = mkdtempSync('/tmp/eosd-gate-');
    chmodSync(base, 0o755);
    probe = await probeSandbox({ logger });
    if (probe.cgroups === null) {
      throw new Error('no cgroup hierarchy mounted');
    }
  });

  afterAll(() => {
    for (const root of [...Object.values(probe?.cgroups?.v1 ?? {}), probe?.cgroups?.v2Root]) {
      if (root !== null && root !== undefined && existsSync(join(root, parent))) {
        rmSync(join(root, parent), { recursive: false, force: true });
      }
    }
    rmSync(base, { recursive: true, force: true });
  });

  it('runs nothing after the wrapper until the supervisor has moved it into every cgroup (exec cat, admission delayed 300 ms)', async () => {
    const cgroups = probe.cgroups;
    if (cgroups === null) {
      throw new Error('no cgroups');
    }
    const manager = new CgroupManager({ layout: cgroups, logger, parent });
    const cg = await manager.create('gate-a', { memoryBytes: 128 * MiB, pidsMax: 16, cpuQuotaPercent: 100 });
    onTestFinished(async () => {
      await cg.kill();
      await cg.remove();
    });
    const cmd = await gatedCommand({ mode: 'uid-only', tools: { sh: '/bin/sh', setpriv: '/usr/bin/setpriv', bwrap: null }, uid: UID, gid: UID }, ['/bin/cat', '/proc/self/cgroup'], base);
    const gateFd = cmd.fds.gate;
    expect(gateFd).not.toBeNull();
    const stdio: ('ignore' | 'pipe')[] = Array.from({ length: cmd.stdioLength }, () => 'ignore');
    stdio[1] = 'pipe';
    stdio[gateFd as number] = 'pipe';
    const child = spawn(cmd.file, cmd.args, { env: cmd.env, stdio });
    const out = collect(child.stdout);
    const exited = once(child, 'exit');
    // Without the gate, cat (a ~1 ms start) would print the daemon's cgroups long before this.
    await delay(300);
    await cg.admit(child.pid as number);
    (child.stdio[gateFd as number] as Writable).end('go\n');
    const [code] = await exited;
    expect(code).toBe(0);
    const seen = cgroupPaths(out());
    const expected = cgroupPaths(readFileSync('/proc/self/cgroup', 'utf8'));
    expect(seen.size).toBe(expected.size);
    // Every hierarchy the agent cgroup lives in shows the agent's path.
    for (const dir of cg.paths) {
      const rel = `/${parent}/gate-a`;
      expect(dir.endsWith(rel)).toBe(true);
    }
    const agentLines = [...seen.values()].filter((p) => p === `/${parent}/gate-a`);
    expect(agentLines.length).toBe(cg.paths.length);
  });

  it('exits 111 without running anything when the gate closes without the word (failed admission)', async () => {
    const marker = join(base, 'ran');
    const cmd = await gatedCommand({ mode: 'process', tools: { sh: '/bin/sh', setpriv: null, bwrap: null }, uid: 0, gid: 0 }, ['/usr/bin/touch', marker], base);
    for (const word of [null, 'nope\n']) {
      const stdio: ('ignore' | 'pipe')[] = Array.from({ length: cmd.stdioLength }, () => 'ignore');
      stdio[cmd.fds.gate as number] = 'pipe';
      const child = spawn(cmd.file, cmd.args, { env: cmd.env, stdio });
      const exited = once(child, 'exit');
      const gate = child.stdio[cmd.fds.gate as number] as Writable;
      if (word === null) {
        gate.destroy();
      } else {
        gate.end(word);
      }
      const [code] = await exited;
      expect(code).toBe(CGROUP_JOIN_FAILED_EXIT_CODE);
      expect(existsSync(marker)).toBe(false);
    }
  });

  describe('the real chain (AgentSandbox: home image, gate, setpriv, bwrap, node)', () => {
    let sandbox: AgentSandbox;
    let state: string;
    let appDir: string;
    const spec = AgentSpecSchema.parse({ id: 'gate-b', package: '.', tier: 'low', limits: { pids: 64 }, sandbox: { nodePermissions: false } });

    beforeAll(async () => {
      state = join(base, 's');
      mkdirSync(join(state, 'agents', spec.id, 'home'), { recursive: true, mode: 0o711 });
      chmodSync(state, 0o711);
      appDir = join(base, 'app');
      mkdirSync(appDir, { mode: 0o755 });
      // First line: the agent's own view; then it forks nothing and waits to be inspected.
      writeFileSync(
        join(appDir, 'first-line.cjs'),
        "process.stdout.write(require('node:fs').readFileSync('/proc/self/cgroup', 'utf8') + 'READY\\n'); setInterval(() => {}, 1000);\n",
        { mode: 0o644 },
      );
      sandbox = await AgentSandbox.create({ stateDir: state, config: { allowDegradedHighTier: false, homeQuota: true, namespaces: true }, logger, cgroupParent: parent });
    });

    afterAll(async () => {
      await sandbox?.close();
    });

    async function start(): Promise<{ launch: AgentLaunch; child: ChildProcess; out: () => string; err: () => string }> {
      const home = join(state, 'agents', spec.id, 'home');
      chmodSync(home, 0o700);
      chownSync(home, UID, UID);
      const image = await sandbox.prepareHome(spec, join(state, 'agents', spec.id), UID);
      const launch = await sandbox.launch({
        spec,
        uid: UID,
        homeDir: home,
        socketDir: base,
        homeImage: image,
        readOnlyDirs: [appDir],
        script: join(appDir, 'first-line.cjs'),
      });
      const stdio = (launch.stdio as (string | number)[]).map((s, fd) => (fd === 3 ? 'ignore' : s)) as StdioOptions;
      const child = spawn(launch.file, launch.args, { env: launch.env, stdio, detached: true });
      launch.afterSpawn();
      onTestFinished(async () => {
        await launch.cleanup();
      });
      return { launch, child, out: collect(child.stdout), err: collect(child.stderr) };
    }

    it('has every process of the agent tree in the agent cgroups, the agent from its first line on', async () => {
      if (sandbox.plan.mode !== 'userns') {
        throw new Error(`expected the full sandbox (userns), got ${sandbox.plan.mode}`);
      }
      const { launch, child, out, err } = await start();
      expect(launch.gateFd).not.toBeNull();
      expect(launch.file).toBe('/bin/sh');
      // A late admission: without the gate, bwrap and node would be running (outside) by now.
      await delay(300);
      await launch.admit(child);
      for (let i = 0; i < 200 && !out().includes('READY'); i++) {
        await delay(25);
      }
      expect(out(), err()).toContain('READY');
      // Its first line sees the root of each hierarchy: bwrap made the cgroup namespace inside the agent cgroups.
      for (const path of cgroupPaths(out().split('READY')[0] ?? '').values()) {
        expect(path).toBe('/');
      }
      // From the host: the wrapper (now bwrap) and every descendant, node included, are inside.
      // Only the wrapper's pid is ever written to cgroup.procs, so a process forked before the
      // move (a broken gate) would still be outside.
      const tree = processTree(child.pid as number);
      expect(tree.length).toBeGreaterThanOrEqual(3);
      const members = new Set(await launch.cgroup?.pids());
      for (const pid of tree) {
        expect(members.has(pid), `pid ${pid} of the tree not in the agent cgroup`).toBe(true);
        const paths = cgroupPaths(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
        const inside = [...paths.values()].filter((p) => p === `/${parent}/${spec.id}`);
        expect(inside.length).toBe(launch.cgroup?.paths.length);
      }
      child.kill('SIGKILL');
      await launch.killTree();
    });

    it('starts nothing of the agent when the admission fails (cgroups gone): wrapper exits 111', async () => {
      const { launch, child, out } = await start();
      const exited = once(child, 'exit');
      // Remove the cgroups under the blocked wrapper: the admission's first write fails.
      await launch.cgroup?.remove();
      await expect(launch.admit(child)).rejects.toThrow(/cannot move agent gate-b into its cgroups/);
      const [code] = await exited;
      expect(code).toBe(CGROUP_JOIN_FAILED_EXIT_CODE);
      expect(out()).toBe('');
    });
  });
});
