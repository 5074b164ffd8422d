import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmdirSync, chmodSync, chownSync, closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { buildSandboxCommand, type SandboxBind, type SandboxMode, type SandboxProgram } from '../src/sandbox/build-sandbox-command.js';
import { CgroupManager, type AgentCgroup, type CgroupLimits } from '../src/sandbox/cgroup-manager.js';
import { classifyExit } from '../src/sandbox/classify-exit.js';
import { mountHomeImage, unmountHomeImage } from '../src/sandbox/home-image.js';
import { detectNodeRuntime, type NodeRuntime } from '../src/sandbox/node-runtime.js';
import { doctorReport, planSandbox, probeSandbox, type SandboxProbe } from '../src/sandbox/probe-sandbox.js';
import { currentSeccompArch, generateSeccompFilter } from '../src/sandbox/seccomp-filter.js';

const FIXTURES = new URL('./fixtures/sandbox/', import.meta.url).pathname;
const isRoot = process.getuid?.() === 0;
const missing = [
  isRoot ? null : 'root',
  existsSync('/usr/bin/bwrap') ? null : 'bubblewrap (/usr/bin/bwrap)',
  existsSync('/usr/bin/setpriv') ? null : 'setpriv',
  currentSeccompArch() === null ? `a seccomp syscall table for ${process.arch}` : null,
].filter((m): m is string => m !== null);
const skipReason = missing.length > 0 ? `needs ${missing.join(', ')}` : '';

if (process.env.CI !== undefined && missing.length > 0) {
  describe('sandbox integration prerequisites', () => {
    it('has root, bubblewrap and setpriv on CI', () => {
      throw new Error(`sandbox integration tests cannot run on CI: ${skipReason}`);
    });
  });
}

const logger = pino({ level: 'silent' });
const UID_BASE = 61900 + (process.pid % 50) * 2;
const MiB = 1 << 20;

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  status: Record<string, unknown>[];
  elapsedMs: number;
}

describe.skipIf(missing.length > 0)(`agent sandbox on a real host${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let base: string;
  let app: string;
  let filterPath: string;
  let probe: SandboxProbe;
  let runtime: NodeRuntime;
  let manager: CgroupManager;
  const parent = `eosd-test-${process.pid}`;
  let seq = 0;

  beforeAll(async () => {
    base = mkdtempSync('/tmp/eosd-sbx-');
    chmodSync(base, 0o755);
    app = join(base, 'app');
    cpSync(FIXTURES, app, { recursive: true });
    chmodSync(app, 0o755);
    filterPath = join(base, 'seccomp.bpf');
    const arch = currentSeccompArch();
    if (arch === null) {
      throw new Error(`no seccomp table for ${process.arch}`);
    }
    writeFileSync(filterPath, generateSeccompFilter(arch), { mode: 0o600 });
    probe = await probeSandbox({ logger });
    runtime = await detectNodeRuntime();
    if (probe.cgroups === null) {
      throw new Error('no cgroup hierarchy mounted');
    }
    manager = new CgroupManager({ layout: probe.cgroups, logger, parent });
  });

  afterAll(() => {
    if (probe?.cgroups) {
      for (const root of [...Object.values(probe.cgroups.v1), probe.cgroups.v2Root]) {
        if (root !== null && root !== undefined && existsSync(join(root, parent))) {
          rmdirSync(join(root, parent));
        }
      }
    }
    rmSync(base, { recursive: true, force: true });
  });

  interface RunOptions {
    mode?: SandboxMode;
    program: SandboxProgram;
    limits?: CgroupLimits;
    seccomp?: boolean;
    tmpfsSizeBytes?: number;
    extraRo?: SandboxBind[];
    homeHost?: string;
    onSpawn?: (cg: AgentCgroup | null, pid: number) => Promise<void>;
    manager?: CgroupManager;
    /** spawn() credentials, to run the chain as a non-root operator (mode rootless-bwrap). */
    spawnAs?: { uid: number; gid: number };
  }

  async function runSandboxed(opts: RunOptions): Promise<RunResult & { cg: AgentCgroup | null; id: string }> {
    seq += 1;
    const id = `t${seq}`;
    const uid = opts.spawnAs?.uid ?? UID_BASE + seq;
    const home = opts.homeHost ?? join(base, `home-${id}`);
    mkdirSync(home, { recursive: true, mode: 0o700 });
    chownSync(home, uid, uid);
    const sock = join(base, `run-${id}`);
    mkdirSync(sock, { mode: 0o750 });
    chownSync(sock, 0, uid);
    const cg = opts.limits === undefined ? null : await (opts.manager ?? manager).create(id, opts.limits);
    if (cg !== null) {
      onTestFinished(async () => {
        await cg.kill();
        await cg.remove();
      });
    }
    const cmd = buildSandboxCommand({
      mode: opts.mode ?? 'userns',
      tools: { sh: '/bin/sh', setpriv: '/usr/bin/setpriv', bwrap: '/usr/bin/bwrap' },
      uid,
      gid: uid,
      cgroupProcsFiles: cg?.procsFiles() ?? [],
      runtime,
      readOnlyPaths: [{ host: app, sandbox: '/app' }, ...(opts.extraRo ?? [])],
      home: { host: home },
      socketDir: { host: sock },
      tmpfsSizeBytes: opts.tmpfsSizeBytes ?? 16 * MiB,
      seccomp: opts.seccomp ?? true,
      statusFd: true,
      keepFds: [3],
      env: { PATH: '/usr/bin', HOME: '/home/agent' },
      program: opts.program,
    });
    const stdio: ('ignore' | 'pipe' | number)[] = Array.from({ length: cmd.stdioLength }, () => 'ignore');
    stdio[1] = 'pipe';
    stdio[2] = 'pipe';
    stdio[3] = 'pipe'; // stands for the bootstrap pipe the supervisor keeps at fd 3
    let seccompFd: number | null = null;
    if (cmd.fds.seccomp !== null) {
      seccompFd = openSync(filterPath, 'r');
      stdio[cmd.fds.seccomp] = seccompFd;
    }
    if (cmd.fds.status !== null) {
      stdio[cmd.fds.status] = 'pipe';
    }
    const started = performance.now();
    const child = spawn(cmd.file, cmd.args, { env: cmd.env, stdio, ...(opts.spawnAs ?? {}) });
    if (seccompFd !== null) {
      closeSync(seccompFd);
    }
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
      }
    });
    let stdout = '';
    let stderr = '';
    let statusText = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    if (cmd.fds.status !== null) {
      child.stdio[cmd.fds.status]?.on('data', (d: Buffer) => (statusText += d.toString()));
    }
    const exited = once(child, 'exit');
    if (opts.onSpawn) {
      await opts.onSpawn(cg, child.pid ?? -1);
    }
    const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    const elapsedMs = performance.now() - started;
    const status = statusText
      .split(/\n+/)
      .filter((l) => l.trim().startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { code, signal, stdout, stderr, status, elapsedMs, cg, id };
  }

  const nodeProgram = (script: string, args: string[] = [], extraReadPaths: string[] = []): Extract<SandboxProgram, { kind: 'node' }> => ({
    kind: 'node',
    script: `/app/${script}`,
    args,
    maxOldSpaceSizeMb: 64,
    permissions: true,
    extraReadPaths,
  });
  const LIMITS: CgroupLimits = { memoryBytes: 256 * MiB, pidsMax: 64, cpuQuotaPercent: 100 };
  const dash: SandboxBind = { host: '/usr/bin/dash', sandbox: '/usr/bin/sh' };
  const bin = (name: string): SandboxBind => ({ host: realpathSync(`/usr/bin/${name}`), sandbox: `/usr/bin/${name}` });

  it('probes this host as Mode U with every required layer (doctor report)', () => {
    const plan = planSandbox(probe, { logger });
    const report = doctorReport(plan);
    expect(probe.bwrap?.version).toMatch(/^\d+\.\d+/);
    expect(probe.usernsUsable).toBe(true);
    expect(plan.mode).toBe('userns');
    expect(plan.missing).toEqual([]);
    for (const l of ['uid', 'no_new_privs', 'netns', 'pidns', 'mntns', 'seccomp', 'cgroup_memory', 'cgroup_pids', 'cgroup_cpu', 'node_permissions'] as const) {
      expect(report.layers[l].active).toBe(true);
    }
  });

  it.each(['userns', 'root-bwrap'] as const)('confines a node agent under the full sandbox in mode %s (uid, caps, nnp, seccomp, netns, pidns, fs, env, node permissions)', async (mode) => {
    const server: Server = createServer((s) => s.destroy());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    onTestFinished(() => void server.close());
    const port = (server.address() as { port: number }).port;
    const r = await runSandboxed({
      mode,
      program: nodeProgram('probe.mjs', [String(port)], ['/proc']),
      limits: LIMITS,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout) as Record<string, unknown>;
    const uid = Number(String(p.Uid).split(/\s+/)[0]);
    expect(uid).not.toBe(0);
    expect(p.Uid).toBe(`${uid}\t${uid}\t${uid}\t${uid}`);
    expect(p.Groups).toBe('');
    expect(p.NoNewPrivs).toBe('1');
    expect(p.Seccomp).toBe('2');
    for (const c of ['CapEff', 'CapPrm', 'CapBnd', 'CapAmb']) {
      expect(p[c]).toBe('0000000000000000');
    }
    expect(p.netdev).toEqual(['lo']);
    expect(p.pids).toBeLessThanOrEqual(3);
    expect(p.envKeys).toEqual(['HOME', 'PATH', 'PWD']); // PWD is set by bwrap --chdir
    // Only the stdio pair and the caller's fd 3 are sockets: bwrap's status fd did not leak in.
    const sockets = Object.entries(p.fds as Record<string, string>).filter(([, t]) => t.startsWith('socket:')).map(([fd]) => Number(fd));
    expect(sockets.sort()).toEqual([1, 2, 3]);
    expect(p.shadow).not.toBe('OK');
    expect(p.spawn).toBe('ERR_ACCESS_DENIED');
    expect(p.worker).toBe('ERR_ACCESS_DENIED');
    expect(p.readOutside).toBe('ERR_ACCESS_DENIED');
    expect(p.tcpHost).toBe('ECONNREFUSED');
    expect(r.status[0]).toHaveProperty('child-pid');
    expect(r.status.at(-1)).toEqual({ 'exit-code': 0 });
  });

  it('writes v1 limits in memsw order, also when lowering and raising them again', async () => {
    const cg = await manager.create('limits', { memoryBytes: 128 * MiB, pidsMax: 50, cpuQuotaPercent: 25 });
    onTestFinished(async () => {
      await cg.kill();
      await cg.remove();
    });
    await manager.create('limits', { memoryBytes: 64 * MiB, pidsMax: 40, cpuQuotaPercent: 150 });
    await manager.create('limits', { memoryBytes: 512 * MiB, pidsMax: 30, cpuQuotaPercent: 50 });
    const layout = probe.cgroups!;
    const read = (c: 'memory' | 'pids' | 'cpu', f: string): string => readFileSync(join(layout.v1[c]!, parent, 'limits', f), 'utf8').trim();
    expect(read('memory', 'memory.limit_in_bytes')).toBe(String(512 * MiB));
    expect(read('memory', 'memory.memsw.limit_in_bytes')).toBe(String(512 * MiB));
    expect(read('pids', 'pids.max')).toBe('30');
    expect(read('cpu', 'cpu.cfs_quota_us')).toBe('50000');
    expect(read('cpu', 'cpu.cfs_period_us')).toBe('100000');
    expect(cg.procsFiles()).toContain(join(layout.v2Root!, parent, 'limits', 'cgroup.procs'));
  });

  it.each(['uid-only', 'rootless-bwrap', 'process'] as const)('runs the degraded mode %s with the layers it promises', async (mode) => {
    const server: Server = createServer((s) => s.destroy());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    onTestFinished(() => void server.close());
    const port = (server.address() as { port: number }).port;
    const inBox = mode === 'rootless-bwrap';
    const operator = UID_BASE + 40;
    const r = await runSandboxed({
      mode,
      program: { ...nodeProgram('probe.mjs', [String(port)], ['/proc']), script: inBox ? '/app/probe.mjs' : join(app, 'probe.mjs') },
      limits: mode === 'uid-only' ? LIMITS : undefined,
      spawnAs: mode === 'rootless-bwrap' ? { uid: operator, gid: operator } : undefined,
    });
    expect(r.stderr).toBe('');
    const p = JSON.parse(r.stdout) as Record<string, string>;
    expect(p.spawn).toBe('ERR_ACCESS_DENIED');
    expect(p.readOutside).toBe('ERR_ACCESS_DENIED');
    if (mode === 'process') {
      expect(p.Uid?.split('\t')[0]).toBe('0'); // no uid drop: documented as no security boundary
      return;
    }
    expect(p.Uid?.split('\t')[0]).not.toBe('0');
    expect(p.NoNewPrivs).toBe('1');
    expect(p.CapEff).toBe('0000000000000000');
    expect(p.Seccomp).toBe(inBox ? '2' : '0');
    expect(p.tcpHost).toBe(inBox ? 'ECONNREFUSED' : 'CONNECTED'); // uid-only shares the host network
  });

  it('hides /etc/shadow at the kernel level (no node layer)', async () => {
    const r = await runSandboxed({
      program: { kind: 'exec', argv: ['/usr/bin/sh', '-c', 'if [ -e /etc/shadow ]; then echo present; else echo absent; fi; ls / 2>&1 || true'] },
      extraRo: [dash],
    });
    expect(r.stdout.split('\n')[0]).toBe('absent');
  });

  it('blocks unshare(CLONE_NEWUSER) by seccomp itself (Mode R, no --disable-userns, no node layer)', async () => {
    const argv = ['/usr/bin/unshare', '-U', '/usr/bin/true'];
    const extraRo = [bin('unshare'), bin('true')];
    const control = await runSandboxed({ mode: 'root-bwrap', seccomp: false, program: { kind: 'exec', argv }, extraRo });
    expect(control.code).toBe(0);
    const r = await runSandboxed({ mode: 'root-bwrap', seccomp: true, program: { kind: 'exec', argv }, extraRo });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Operation not permitted/);
    const u = await runSandboxed({ mode: 'userns', program: { kind: 'exec', argv }, extraRo });
    expect(u.code).not.toBe(0);
    expect(u.stderr).toMatch(/Operation not permitted/);
  });

  it.skipIf(!existsSync('/usr/bin/python3') || process.arch !== 'x64')('blocks clone(CLONE_NEWUSER) by argument check but allows a plain fork', async () => {
    const py = [
      'import ctypes, os',
      'libc = ctypes.CDLL(None, use_errno=True)',
      'res = []',
      'for flags in (17, 0x10000000 | 17, 0x40000000 | 17):',
      '    pid = libc.syscall(56, flags, 0, 0, 0, 0)',
      '    if pid == 0: os._exit(0)',
      '    if pid > 0: os.waitpid(pid, 0); res.append("OK")',
      '    else: res.append(os.strerror(ctypes.get_errno()))',
      'print("|".join(res))',
    ].join('\n');
    const python = realpathSync('/usr/bin/python3');
    const r = await runSandboxed({
      mode: 'root-bwrap',
      program: { kind: 'exec', argv: ['/usr/bin/python3', '-I', '-S', '-c', py] },
      extraRo: [{ host: python, sandbox: '/usr/bin/python3' }, { host: '/usr/lib/python3.11' }],
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('OK|Operation not permitted|Operation not permitted');
  });

  it('OOM-kills an agent over its memory limit and classifyExit says oom', async () => {
    const r = await runSandboxed({
      program: nodeProgram('mem.mjs', ['1024']),
      limits: { ...LIMITS, memoryBytes: 96 * MiB },
    });
    const usage = await r.cg?.readUsage();
    expect(r.stdout).not.toContain('survived');
    const verdict = classifyExit({ code: r.code, signal: r.signal, codeEncodesSignal: true, oomKillsBefore: 0, oomKillsAfter: usage?.oomKills ?? 0 });
    expect(verdict).toMatchObject({ kind: 'oom', signal: 'SIGKILL' });
  });

  it('stops a fork storm at pids.max (shell loop, no node layer) and classifyExit says limit', async () => {
    const r = await runSandboxed({
      program: { kind: 'exec', argv: ['/usr/bin/sh', '-c', 'i=0; while [ $i -lt 150 ]; do /usr/bin/sleep 30 & i=$((i+1)); done; wait'] },
      extraRo: [dash, bin('sleep')],
      limits: { ...LIMITS, pidsMax: 24 },
      onSpawn: async (cg) => {
        await expect.poll(async () => (await cg?.readUsage())?.pidsMaxEvents ?? 0, { timeout: 10_000 }).toBeGreaterThan(0);
      },
    });
    const usage = await r.cg?.readUsage();
        expect(usage?.pidsMaxEvents).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/Cannot fork/);
    const verdict = classifyExit({ code: r.code, signal: r.signal, codeEncodesSignal: true, pidsMaxEventsBefore: 0, pidsMaxEventsAfter: usage?.pidsMaxEvents ?? 0 });
    expect(verdict.kind).toBe('limit');
  });

  it('throttles CPU to the cgroup quota', async () => {
    const r = await runSandboxed({ program: nodeProgram('busy.mjs', ['1000']), limits: { ...LIMITS, cpuQuotaPercent: 20 } });
    const usage = await r.cg?.readUsage();
    expect(r.stdout.trim()).toBe('done');
    expect(usage?.cpuThrottledPeriods).toBeGreaterThan(0);
    // 1 s of wall time at 20 % of a CPU, plus node start-up outside the busy loop.
    expect(usage?.cpuUsageNs).toBeLessThan(0.45e9);
  });

  it('caps the private /tmp tmpfs', async () => {
    const r = await runSandboxed({ program: nodeProgram('fill.mjs', ['/tmp', '64']), tmpfsSizeBytes: 8 * MiB, limits: LIMITS });
    const out = JSON.parse(r.stdout) as { written: number; error: string | null };
    expect(out.error).toBe('ENOSPC');
    expect(out.written).toBeLessThanOrEqual(8 * MiB);
    expect(out.written).toBeGreaterThanOrEqual(6 * MiB);
  });

  it('caps the agent home with a loop-mounted ext4 image', async () => {
    const mountPoint = join(base, 'home-img');
    const imagePath = join(base, 'home.img');
    await mountHomeImage({ imagePath, mountPoint, sizeBytes: 24 * MiB, uid: UID_BASE + seq + 1, gid: UID_BASE + seq + 1, logger });
    onTestFinished(async () => {
      await unmountHomeImage(mountPoint);
      rmSync(imagePath, { force: true });
    });
    const r = await runSandboxed({ program: nodeProgram('fill.mjs', ['/home/agent', '64']), homeHost: mountPoint, limits: LIMITS });
    const out = JSON.parse(r.stdout) as { written: number; error: string | null };
    expect(out.error).toBe('ENOSPC');
    expect(out.written).toBeLessThan(24 * MiB);
    expect(out.written).toBeGreaterThan(16 * MiB);
  });

  it.each(['v2 cgroup.kill', 'v1 iterate + SIGKILL'] as const)('kills the whole agent tree through the cgroup (%s)', async (how) => {
    const layout = how === 'v2 cgroup.kill' ? probe.cgroups : { ...probe.cgroups!, v2Root: null, v2Kill: false };
    const mgr = new CgroupManager({ layout: layout!, logger, parent });
    let killMs = 0;
    let remaining: number[] = [];
    const r = await runSandboxed({
      program: { kind: 'exec', argv: ['/usr/bin/sh', '-c', 'for i in 1 2 3 4 5; do /usr/bin/sleep 60 & done; wait'] },
      extraRo: [dash, bin('sleep')],
      limits: LIMITS,
      manager: mgr,
      onSpawn: async (cg) => {
        if (cg === null) {
          throw new Error('no cgroup');
        }
        await expect.poll(async () => (await cg.pids()).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(8);
        const t = performance.now();
        await cg.kill();
        killMs = performance.now() - t;
        remaining = await cg.pids();
      },
    });
    expect(remaining).toEqual([]);
    expect(r.signal).toBe('SIGKILL');
    expect(await r.cg?.isPopulated()).toBe(false);
    expect(killMs).toBeLessThan(2_000);
    process.stdout.write(`cgroup kill (${how}): ${killMs.toFixed(1)} ms\n`);
  });

  it('measures spawn-to-exit of node plain vs the full sandbox (median of 20 interleaved runs)', async () => {
    const cg = await manager.create('bench', LIMITS);
    onTestFinished(async () => {
      await cg.kill();
      await cg.remove();
    });
    const plain: number[] = [];
    const boxed: number[] = [];
    const noop = join(app, 'noop.mjs');
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const child = spawn(process.execPath, [noop], { env: {}, stdio: 'ignore' });
      const [code] = (await once(child, 'exit')) as [number | null];
      plain.push(performance.now() - t);
      expect(code).toBe(0);
      const r = await runSandboxed({ program: nodeProgram('noop.mjs'), limits: LIMITS });
      expect(r.code).toBe(0);
      boxed.push(r.elapsedMs);
    }
    const median = (xs: number[]): number => {
      const s = [...xs].sort((a, b) => a - b);
      return ((s[9] ?? 0) + (s[10] ?? 0)) / 2;
    };
    const result = { plainMedianMs: +median(plain).toFixed(1), sandboxMedianMs: +median(boxed).toFixed(1), runs: 20 };
    process.stdout.write(`sandbox startup: ${JSON.stringify(result)}\n`);
    expect(result.sandboxMedianMs).toBeLessThan(result.plainMedianMs + 500);
  });
});
