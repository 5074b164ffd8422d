// Agent sandbox cost: spawn time of `node -e 0` bare vs. inside the full agent sandbox chain
// (home image mounted once, cgroup gate and admission, setpriv, bwrap with all namespaces, seccomp, Node
// permissions), spawn-to-ready of a real agent under the daemon, and PSS per idle agent.
// Needs root. Build first (pnpm build), then: node test/bench/sandbox-startup.bench.mjs
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { requireRoot, sandboxRig } from './lib/sandbox-rig.mjs';

const N = Number(process.env.N ?? 20);
const ROOT = new URL('../../', import.meta.url).pathname;
requireRoot();

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (f) => s[Math.min(s.length - 1, Math.floor(f * s.length))];
  return { median: q(0.5), p10: q(0.1), p90: q(0.9), n: s.length };
}
const fmt = (st) => `median ${st.median.toFixed(1)} ms (p10 ${st.p10.toFixed(1)}, p90 ${st.p90.toFixed(1)}, n ${st.n})`;

async function timeSpawn(file, args, opts) {
  const t0 = performance.now();
  const child = spawn(file, args, opts);
  const [code] = await once(child, 'exit');
  if (code !== 0) {
    throw new Error(`${file} exited ${code}`);
  }
  return performance.now() - t0;
}

const uid = 64999;
const { dir, home, sandbox, spec, image } = await sandboxRig({ prefix: 'eosd-bench-', cgroupParent: 'eosd-bench', uid, homeQuota: process.env.HOME_QUOTA !== '0' });
try {
  await mkdir(join(dir, 'app'), { mode: 0o755 });
  await writeFile(join(dir, 'app', 'zero.js'), '0;\n', { mode: 0o644 });
  const bare = [];
  const boxed = [];
  for (let i = 0; i < N; i++) {
    bare.push(await timeSpawn(process.execPath, ['-e', '0'], { stdio: 'ignore', env: {} }));
    const launch = await sandbox.launch({
      spec, uid, homeDir: home, socketDir: join(dir, 'sock'), homeImage: image,
      readOnlyDirs: [join(dir, 'app')], script: join(dir, 'app', 'zero.js'),
    });
    const t0 = performance.now();
    const child = spawn(launch.file, launch.args, { env: launch.env, stdio: launch.stdio.map((s, fd) => (fd === 2 ? 'inherit' : s)) });
    launch.afterSpawn();
    // The chain waits on its cgroup gate until the supervisor's side has moved it into the cgroups.
    const admitted = launch.admit(child);
    const [code] = await once(child, 'exit');
    await admitted;
    boxed.push(performance.now() - t0);
    await launch.cleanup();
    if (code !== 0) {
      throw new Error(`sandboxed node -e 0 exited ${code}`);
    }
  }
  await sandbox.close();
  const b = stats(bare);
  const s = stats(boxed);
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`bare node -e 0:            ${fmt(b)}`);
  console.log(`full sandbox node -e 0:    ${fmt(s)}   ratio ${(s.median / b.median).toFixed(2)}x`);

  // Spawn-to-ready and PSS of a real agent under the daemon.
  const cfg = join(dir, 'eosd.json');
  await writeFile(cfg, JSON.stringify({ dev: true, stateDir: join(dir, 'd'), runDir: join(dir, 'r'), agents: [{ id: 'ping', package: join(ROOT, 'examples', 'ping'), tier: 'low' }] }));
  const d = spawn(process.execPath, [join(ROOT, 'supervisor/dist/bin/eosd.js'), 'start', '--config', cfg], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  d.stdout.setEncoding('utf8').on('data', (c) => (out += c));
  const waitLine = async (pred, from) => {
    for (let i = 0; i < 600; i++) {
      const lines = out.split('\n').slice(from).filter(Boolean).map((l) => JSON.parse(l));
      const hit = lines.find(pred);
      if (hit) {
        return hit;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('timeout');
  };
  await waitLine((l) => l.msg === 'supervisor ready', 0);
  const cli = (args) => timeSpawn(process.execPath, [join(ROOT, 'supervisor/dist/bin/eosd.js'), ...args, '--socket', join(dir, 'r', 'control.sock')], { stdio: 'ignore' });
  const ready = [];
  for (let i = 0; i < Math.min(N, 10); i++) {
    const from = out.split('\n').length - 1;
    await cli(['agents', 'restart', 'ping']);
    const spawned = await waitLine((l) => l.msg === 'agent process spawned' && l.agentId === 'ping', from);
    const running = await waitLine((l) => l.msg === 'agent state changed' && l.agentId === 'ping' && l.to === 'running', from);
    ready.push(running.time - spawned.time);
  }
  await new Promise((r) => setTimeout(r, 3000));
  const ls = await new Promise((resolve) => {
    const c = spawn(process.execPath, [join(ROOT, 'supervisor/dist/bin/eosd.js'), 'agents', 'ls', '--json', '--socket', join(dir, 'r', 'control.sock')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let t = '';
    c.stdout.setEncoding('utf8').on('data', (x) => (t += x));
    c.on('exit', () => resolve(JSON.parse(t)));
  });
  const pid = ls[0].pid;
  const pss = async (p) => Number(/^Pss:\s+(\d+) kB/m.exec(await readFile(`/proc/${p}/smaps_rollup`, 'utf8'))?.[1] ?? 0) * 1024;
  const initPid = Number((await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ')[1]);
  const outerPid = Number((await readFile(`/proc/${initPid}/stat`, 'utf8')).split(') ')[1].split(' ')[1]);
  const nodePss = await pss(pid);
  const bwrapPss = (await pss(initPid)) + (await pss(outerPid));
  const r = stats(ready);
  console.log(`agent spawn-to-ready (full sandbox, daemon log timestamps, ms resolution): ${fmt(r)}   ratio to bare node -e 0: ${(r.median / b.median).toFixed(2)}x`);
  console.log(`idle agent PSS: node ${(nodePss / 1048576).toFixed(1)} MiB + bwrap helpers ${(bwrapPss / 1048576).toFixed(2)} MiB = ${((nodePss + bwrapPss) / 1048576).toFixed(1)} MiB`);
  d.kill('SIGTERM');
  await once(d, 'exit');
} finally {
  await rm(dir, { recursive: true, force: true });
}
