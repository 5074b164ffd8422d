// P6: PSS per idle agent at N agents, and control RPC latency with M agents running.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AGENT_ENV, fixture, packagesDir, startDaemon } from '../lib/daemon.mjs';
import { sleep, treePssBytes } from '../lib/procs.mjs';
import { quantile, summary } from '../lib/stats.mjs';

export const id = 'p6';
export const title = 'PSS per idle agent; control RPC p99 under many agents';

const MiB = 1024 * 1024;

/** N agent packages `bench-idle-<k>` in `dir`, copies of the bench-idle fixture (ids must match manifests). */
async function makePackages(dir, n) {
  const code = await readFile(join(fixture('bench-idle'), 'index.js'), 'utf8');
  const base = JSON.parse(await readFile(join(fixture('bench-idle'), 'package.json'), 'utf8'));
  const agents = [];
  for (let k = 0; k < n; k++) {
    const id = `bench-idle-${k}`;
    const pkgDir = join(dir, id);
    await mkdir(pkgDir, { mode: 0o755 });
    const pkg = { ...base, name: `fixture-${id}`, everythingos: { ...base.everythingos, id } };
    await writeFile(join(pkgDir, 'package.json'), JSON.stringify(pkg), { mode: 0o644 });
    await writeFile(join(pkgDir, 'index.js'), code, { mode: 0o644 });
    agents.push({ id, package: pkgDir, tier: 'low', startTimeoutMs: 300_000, heartbeatTimeoutMs: 120_000 });
  }
  return agents;
}

/** Mean PSS of `n` bare idle node processes started together (the baseline), bytes. */
async function barePss(n) {
  const kids = [];
  try {
    for (let i = 0; i < n; i++) {
      kids.push(spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { stdio: 'ignore', env: AGENT_ENV }));
    }
    await sleep(1_500 + n * 10);
    const pss = [];
    for (const k of kids) {
      pss.push(await treePssBytes(k.pid));
    }
    return pss;
  } finally {
    for (const k of kids) {
      k.kill('SIGKILL');
    }
    await Promise.all(kids.map((k) => (k.exitCode === null && k.signalCode === null ? once(k, 'exit') : undefined)));
  }
}

async function timeCalls(count, fn) {
  const lat = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    await fn(i);
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), max: quantile(lat, 1) };
}

/** Starts `n` idle agents and measures memory and control RPC latency. */
async function atScale(n, calls) {
  const pkgRoot = await packagesDir();
  try {
    const agents = await makePackages(pkgRoot, n);
    const daemon = await startDaemon({ agents }, { readyTimeoutMs: 600_000 });
    try {
      const deadline = Date.now() + 600_000;
      let list = await daemon.client.listAgents();
      while (list.some((a) => a.state !== 'running')) {
        if (Date.now() > deadline) {
          throw new Error(`not all ${n} agents running: ${list.filter((a) => a.state !== 'running').length} left`);
        }
        await sleep(500);
        list = await daemon.client.listAgents();
      }
      await sleep(3_000);
      const pss = [];
      for (const a of list) {
        pss.push(await treePssBytes(a.pid));
      }
      const ids = list.map((a) => a.id);
      const rpc = {
        GetAgent: await timeCalls(calls, (i) => daemon.client.getAgent(ids[i % ids.length])),
        ListAgents: await timeCalls(Math.ceil(calls / 4), () => daemon.client.listAgents()),
        GetStatus: await timeCalls(Math.ceil(calls / 4), () => daemon.client.getStatus()),
      };
      return { pss, rpc, daemonPss: await treePssBytes(daemon.proc.child.pid) - pss.reduce((a, b) => a + b, 0) };
    } finally {
      await daemon.stop();
    }
  } finally {
    await rm(pkgRoot, { recursive: true, force: true });
  }
}

export async function run(opts) {
  const memAgents = opts.full ? 100 : opts.agents;
  const rpcAgents = opts.full ? 500 : opts.agents;
  const bare = summary(await barePss(memAgents));
  const mem = await atScale(memAgents, 1_000);
  const pss = summary(mem.pss);
  let rpc = mem.rpc;
  if (rpcAgents !== memAgents) {
    const need = rpcAgents * pss.median * 1.5;
    const { freemem } = await import('node:os');
    if (need > freemem()) {
      throw new Error(`${rpcAgents} agents need about ${Math.round(need / MiB)} MiB; ${Math.round(freemem() / MiB)} MiB free`);
    }
    rpc = (await atScale(rpcAgents, 1_000)).rpc;
  }
  const worstP99 = Math.max(...Object.values(rpc).map((r) => r.p99));
  const mib = (s) => ({ median: s.median / MiB, min: s.min / MiB, max: s.max / MiB, n: s.n, spreadPct: s.spreadPct, unit: 'MiB' });
  return {
    metrics: {
      pssPerAgent: { ...mib(pss), what: `PSS of each agent's process tree at ${memAgents} idle agents` },
      controlRpcP99: { median: worstP99, unit: 'ms', what: `worst p99 of GetAgent/ListAgents/GetStatus at ${rpcAgents} agents`, detail: rpc },
      daemonPss: { median: mem.daemonPss / MiB, unit: 'MiB', what: `supervisor PSS at ${memAgents} agents` },
    },
    baselines: { bareNodePss: { ...mib(bare), what: `PSS of each of ${memAgents} bare idle node processes` } },
    ratios: { pssVsBareNode: pss.median / bare.median },
    goals: [
      { text: 'PSS per idle agent <= 20 MiB', pass: pss.median <= 20 * MiB },
      { text: `control RPC p99 <= 50 ms (${rpcAgents} agents${rpcAgents < 500 ? '; goal is at 500: use --full' : ''})`, pass: worstP99 <= 50 },
    ],
    notes: [`${memAgents} agents for memory, ${rpcAgents} for RPC latency`],
  };
}
