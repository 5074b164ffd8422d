#!/usr/bin/env node
// eosd benchmark runner: `pnpm bench [p1 p2 ...] [--json] [--repeats N] [--count N] [--pings N] [--warmup-pings N]
// [--spawns N] [--agents N] [--inflight N] [--full] [--profile DIR]`. Runs real daemon and agent processes (build
// first: `npx tsc -b`), compares each scenario with a baseline measured in the same run, prints a
// table (or, with --json, one JSON object per scenario per line). See docs/performance.md.
import { cpus, totalmem } from 'node:os';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { EOSD_BIN, IS_ROOT } from './lib/daemon.mjs';
import { round } from './lib/stats.mjs';
import * as p1 from './scenarios/p1-throughput.mjs';
import * as p2 from './scenarios/p2-latency.mjs';
import * as p3 from './scenarios/p3-durable-act.mjs';
import * as p4 from './scenarios/p4-ledger-verify.mjs';
import * as p5 from './scenarios/p5-spawn.mjs';
import * as p6 from './scenarios/p6-scale.mjs';

const SCENARIOS = [p1, p2, p3, p4, p5, p6];

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    json: { type: 'boolean', default: false },
    repeats: { type: 'string', default: '5' },
    count: { type: 'string', default: '100000' },
    pings: { type: 'string', default: '2000' },
    'warmup-pings': { type: 'string', default: '3000' },
    spawns: { type: 'string', default: '15' },
    agents: { type: 'string', default: '100' },
    inflight: { type: 'string', default: '512' },
    full: { type: 'boolean', default: false },
    profile: { type: 'string' },
  },
});

const wanted = positionals.map((p) => p.toLowerCase());
const unknown = wanted.filter((w) => !SCENARIOS.some((s) => s.id === w));
if (unknown.length > 0) {
  process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.id).join(', ')}\n`);
  process.exit(2);
}
if (!existsSync(EOSD_BIN)) {
  process.stderr.write(`${EOSD_BIN} is missing: build first (npx tsc -b)\n`);
  process.exit(2);
}

const opts = {
  repeats: Number(values.repeats),
  count: Number(values.count),
  pings: Number(values.pings),
  warmupPings: Number(values['warmup-pings']),
  spawns: Number(values.spawns),
  agents: Number(values.agents),
  inFlight: Number(values.inflight),
  full: values.full,
  daemonNodeArgs: values.profile ? ['--cpu-prof', '--cpu-prof-dir', values.profile] : [],
};
const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memGiB: round(totalmem() / 2 ** 30, 1),
  node: process.version,
  root: IS_ROOT,
};

function fmt(m) {
  if (m === undefined) {
    return '-';
  }
  const v = m.median >= 100 ? Math.round(m.median).toLocaleString('en-US') : round(m.median, 2);
  const spread = m.spreadPct !== undefined && m.n > 1 ? ` ±${round(m.spreadPct / 2, 0)}%` : '';
  return `${v} ${m.unit}${spread}`;
}

function jsonSafe(o) {
  return JSON.parse(JSON.stringify(o, (_k, v) => (typeof v === 'number' ? round(v, 3) : v)));
}

const rows = [];
let failures = 0;
for (const s of SCENARIOS) {
  if (wanted.length > 0 && !wanted.includes(s.id)) {
    continue;
  }
  const started = Date.now();
  if (!values.json) {
    process.stderr.write(`${s.id}: ${s.title} ...\n`);
  }
  let result;
  try {
    result = { available: true, ...(await s.run(opts)) };
  } catch (err) {
    failures++;
    result = { available: false, reason: `failed: ${err instanceof Error ? err.message : String(err)}` };
  }
  const record = jsonSafe({ scenario: s.id, title: s.title, seconds: (Date.now() - started) / 1000, machine, ...result });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(record)}\n`);
  } else {
    rows.push(record);
  }
}

if (!values.json) {
  const out = [`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memGiB} GiB, node ${machine.node}, root ${machine.root}`, ''];
  for (const r of rows) {
    if (!r.available) {
      out.push(`${r.scenario.toUpperCase()}  ${r.title}\n    ${r.reason}`);
      continue;
    }
    out.push(`${r.scenario.toUpperCase()}  ${r.title}  (${r.seconds} s)`);
    for (const [k, m] of Object.entries(r.metrics)) {
      out.push(`    ${k.padEnd(16)} ${fmt(m).padEnd(28)}${m.n !== undefined ? ` n=${m.n}` : ''}`);
    }
    for (const [k, m] of Object.entries(r.baselines)) {
      out.push(`    base ${k.padEnd(11)} ${fmt(m).padEnd(28)} ${m.what ?? ''}`);
    }
    for (const [k, v] of Object.entries(r.ratios ?? {})) {
      out.push(`    ratio ${k.padEnd(10)} ${round(v, 2)}`);
    }
    for (const g of r.goals) {
      out.push(`    goal ${g.pass ? 'MET ' : 'MISS'} ${g.text}`);
    }
    for (const n of r.notes ?? []) {
      out.push(`    note ${n}`);
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
}
process.exitCode = failures > 0 ? 1 : 0;
