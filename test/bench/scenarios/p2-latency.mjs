// P2: unloaded emit -> deliver latency, one event in flight.
import { quantile, summary } from '../lib/stats.mjs';
import { runEosd, runRelay } from './relay-bench.mjs';

export const id = 'p2';
export const title = 'emit -> deliver latency, one event in flight (one-way, CLOCK_MONOTONIC)';

/** p50/p99 per repeat, so medians and spread are over repeats. */
async function repeat(n, fn, cpu = []) {
  const p50 = [];
  const p99 = [];
  for (let i = 0; i < n; i++) {
    const r = await fn();
    const us = r.latencyUs;
    if (r.cpuUsPerEvent !== undefined) cpu.push(r.cpuUsPerEvent);
    p50.push(quantile(us, 0.5));
    p99.push(quantile(us, 0.99));
  }
  return { p50: summary(p50), p99: summary(p99) };
}

export async function run(opts) {
  const params = { rounds: 0, warmupRounds: 0, count: 0, pings: opts.pings, warmupPings: opts.warmupPings };
  const n = Math.max(1, Math.min(opts.repeats, 3));
  const base = await repeat(n, () => runRelay(params, 1));
  const cpu = [];
  const sys = await repeat(n, () => runEosd(params, opts), cpu);
  const cpuMedian = (k) => summary(cpu.map((c) => c[k])).median;
  const ratio = sys.p50.median / base.p50.median;
  return {
    metrics: { p50: { ...sys.p50, unit: 'µs' }, p99: { ...sys.p99, unit: 'µs' } },
    baselines: {
      relayP50: { ...base.p50, unit: 'µs', what: 'same NDJSON relay, one event in flight' },
      relayP99: { ...base.p99, unit: 'µs', what: 'same NDJSON relay, one event in flight' },
    },
    ratios: { p50VsRelay: ratio },
    goals: [
      { text: 'p50 <= 3 x relay p50', pass: ratio <= 3 },
      { text: 'p99 <= 2 ms', pass: sys.p99.median <= 2000 },
    ],
    cpuUsPerEvent: { daemon: cpuMedian('daemon'), sender: cpuMedian('sender'), receiver: cpuMedian('receiver') },
    notes: [
      `${opts.pings} pings per run after ${params.warmupPings} warm-up pings (the first ~1,000 pings run cold JIT code), ${n} runs each`,
      `CPU µs per ping (median over runs, /proc, over the measured pings only, warm-up excluded): daemon ${cpuMedian('daemon').toFixed(1)}, sender ${cpuMedian('sender').toFixed(1)}, receiver ${cpuMedian('receiver').toFixed(1)}`,
    ],
  };
}
