// P5 chain steps: times cumulative prefixes of the real agent start chain that eosd builds for the
// `bench-idle` fixture (same AgentSandbox, same package closure, same agent-host bundle), each
// ending in `node -e 0` or the bundle, interleaved with a bare `node -e 0`, and prints medians.
// Needs root. Build first (pnpm build), then: node test/bench/sandbox-chain.bench.mjs  (N=20)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { requireRoot, sandboxRig, supervisorDist } from './lib/sandbox-rig.mjs';

const N = Number(process.env.N ?? 20);
const ROOT = new URL('../../', import.meta.url).pathname;
const { packageClosure } = await supervisorDist('agent/package-closure.js');
const { AgentHostCodeCache } = await supervisorDist('agent/agent-host-code-cache.js');
requireRoot();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return `p10 ${s[Math.floor(0.1 * s.length)].toFixed(1)} p90 ${s[Math.min(s.length - 1, Math.floor(0.9 * s.length))].toFixed(1)}`;
};

async function timeRun(file, args, opts, okCodes = [0], admit = null) {
  const t0 = performance.now();
  const child = spawn(file, args, opts);
  const admitted = admit === null ? null : admit(child);
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (c) => (err += c));
  const [code] = await once(child, 'exit');
  const dt = performance.now() - t0;
  await admitted;
  if (err.includes('rejected by V8')) {
    throw new Error(`code cache rejected: ${err}`);
  }
  if (!okCodes.includes(code)) {
    throw new Error(`${file} ${args.slice(0, 3).join(' ')} exited ${code}: ${err}`);
  }
  return dt;
}

const uid = 64998;
const rig = await sandboxRig({ prefix: 'eosd-chain-', cgroupParent: 'eosd-chain-bench', uid });
const { dir, state, home, logger, sandbox, spec, image } = rig;
try {
  const pkgDir = join(ROOT, 'test', 'fixtures', 'agents', 'bench-idle');
  const loader = join(ROOT, 'agent-host', 'dist', 'bundle', 'agent-host.cjs');
  const readOnlyDirs = [dirname(loader), ...(await packageClosure([pkgDir], ['@everythingos/sdk']))];
  await writeFile(join(dir, 'zero.js'), '0;\n');

  const codeCache = new AgentHostCodeCache({ loaderPath: loader, dir: join(state, 'code-cache'), logger });
  const launchFor = async () =>
    sandbox.launch({ spec, uid, homeDir: home, socketDir: join(dir, 'sock'), homeImage: image, readOnlyDirs, script: loader, codeCache });
  // The argv is [/bin/sh -c <cgroup gate> eosd-gate setpriv ... -- bwrap ... -- node ...]; the home
  // image is mounted once, by the first launch (outside the timed runs).
  const probe = await launchFor();
  await probe.cleanup();
  const argv = [probe.file, ...probe.args];
  const iSetpriv = argv.findIndex((a) => a.endsWith('/setpriv'));
  const iBwrap = argv.findIndex((a) => a.endsWith('/bwrap'));
  const iNode = argv.indexOf('--', iBwrap) + 1;
  const nodeArgv = argv.slice(iNode);
  const permFlags = nodeArgv.filter((a) => a.startsWith('--allow-fs') || a === '--experimental-permission' || a === '--no-warnings');
  process.stdout.write(`chain: ${argv.length} argv, ${readOnlyDirs.length} read-only dirs, ${argv.filter((a) => a === '--ro-bind').length} ro binds, ${permFlags.length} permission flags\n`);

  const node = process.execPath;
  const heap = nodeArgv.find((a) => a.startsWith('--max-old-space-size='));
  // The same start without --code-cache: V8 compiles the whole body.
  const bundleArgs = [...permFlags, heap, loader];
  const cachedArgs = nodeArgv.slice(1);
  // Outside the sandbox the cache is at its host path, not at the bind target.
  const hostCache = await codeCache.pathFor(Number(heap.split('=')[1]));
  const cachedArgsHost = [...cachedArgs.map((a) => (a.startsWith('--code-cache=') ? `--code-cache=${hostCache}` : a)), `--allow-fs-read=${hostCache}`];
  const steps = {
    'bare node -e 0': () => [node, '-e', '0'],
    'node + permission flags -e 0': () => [node, ...permFlags, '-e', '0'],
    'node + permission flags, bundle without code cache': () => [node, ...bundleArgs],
    'node + permission flags, code-cached start': () => [node, ...cachedArgsHost],
    'sh, gate opened at once -> node -e 0': () => [...argv.slice(0, iSetpriv), node, '-e', '0'],
    '... + cgroup admission -> node -e 0': () => [...argv.slice(0, iSetpriv), node, '-e', '0'],
    '... + setpriv -> node -e 0': () => [...argv.slice(0, iBwrap), node, '-e', '0'],
    '... + bwrap + seccomp -> node -e 0': () => [...argv.slice(0, iNode), node, '-e', '0'],
    '... + permission flags -> node -e 0': () => [...argv.slice(0, iNode), node, ...permFlags, '-e', '0'],
    '... full chain, bundle without code cache': () => [...argv.slice(0, iNode), node, ...bundleArgs],
    '... full chain, code-cached start (no bootstrap)': () => [...argv.slice(0, iNode), node, ...cachedArgs],
  };
  const times = Object.fromEntries(Object.keys(steps).map((k) => [k, []]));
  for (let i = 0; i < N + 2; i++) {
    for (const [name, mk] of Object.entries(steps)) {
      const launch = await launchFor();
      const [file, ...args] = mk();
      // The bundle exits 3 (EXIT.protocol) when fd 3 has no bootstrap: it has loaded by then.
      const stdio = launch.stdio.map((s, fd) => (fd === 2 ? 'pipe' : fd === 3 ? 'ignore' : s));
      // The wrapper waits on its cgroup gate: the supervisor's admission (move into the cgroups,
      // then "go"), or for the first sandbox step only "go" (the wrapper without the cgroups).
      const admit = name.includes('gate opened at once')
        ? (child) => {
            child.stdio[launch.gateFd].end('go\n');
            return Promise.resolve();
          }
        : (child) => launch.admit(child);
      const dt = await timeRun(file, args, { env: launch.env, stdio }, name.includes('bundle') || name.includes('cached') ? [3] : [0], name.startsWith('bare') || name.startsWith('node') ? null : admit);
      launch.afterSpawn();
      await launch.cleanup();
      if (i >= 2) {
        times[name].push(dt);
      }
    }
  }
  const base = median(times['bare node -e 0']);
  process.stdout.write(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}, N ${N}\n`);
  let prev = null;
  for (const [name, xs] of Object.entries(times)) {
    const m = median(xs);
    const step = name.startsWith('...') && prev !== null ? `  step +${(m - prev).toFixed(1)}` : '';
    process.stdout.write(`${name.padEnd(48)} ${m.toFixed(1).padStart(6)} ms (${spread(xs)})  ${(m / base).toFixed(2)}x${step}\n`);
    if (name.startsWith('...') || name.startsWith('sh,')) {
      prev = m;
    }
  }
} finally {
  await rig.close();
}
