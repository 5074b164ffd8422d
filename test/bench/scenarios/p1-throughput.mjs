// P1: burst throughput agent A -> eosd -> agent B with auth, ACL and rate limits on.
import { summary } from '../lib/stats.mjs';
import { runEosd, runRelay } from './relay-bench.mjs';

export const id = 'p1';
export const title = 'events/s A -> eosd -> B, 100k burst, auth+ACL+rate limits on';

export async function run(opts) {
  const warmupRounds = 1;
  const params = { rounds: opts.repeats + warmupRounds, warmupRounds, count: opts.count, pings: 0, warmupPings: 0 };
  const relay = await runRelay(params, 1);
  const relayBatched = await runRelay(params, 256);
  const eosd = await runEosd(params, opts);
  const rate = summary(eosd.rates);
  const base = summary(relay.rates);
  const ratio = rate.median / base.median;
  return {
    metrics: { eventsPerSec: { ...rate, unit: 'events/s' } },
    baselines: {
      ndjsonRelay: { ...base, unit: 'events/s', what: 'raw NDJSON Unix-socket relay A -> relay -> B, one write per event per hop' },
      ndjsonRelayBatched: {
        ...summary(relayBatched.rates),
        unit: 'events/s',
        what: 'same relay, 256 events per write (informational: the ceiling of a batching relay)',
      },
    },
    ratios: { vsRelay: ratio },
    goals: [
      { text: '>= 50,000 events/s', pass: rate.median >= 50_000 },
      { text: '>= 0.5 x relay baseline', pass: ratio >= 0.5 },
    ],
    phases: { senderLoopMs: summary(eosd.loopMs), firstArrivalMs: summary(eosd.firstMs) },
    cpuUsPerEvent: eosd.cpuUsPerEvent,
    notes: [
      `burst of ${opts.count} events, ${opts.repeats} rounds after ${warmupRounds} warm-up`,
      `CPU µs per event (/proc, from both agents ready to the results, warm-up included): daemon ${eosd.cpuUsPerEvent.daemon.toFixed(1)}, sender ${eosd.cpuUsPerEvent.sender.toFixed(1)}, receiver ${eosd.cpuUsPerEvent.receiver.toFixed(1)}`,
      `sender's synchronous emit loop ${Math.round(summary(eosd.loopMs).median)} ms; first event at B after ${Math.round(summary(eosd.firstMs).median)} ms`,
    ],
  };
}
