// P1/P2 shared parts: the bench-sender -> eosd -> bench-receiver run and its NDJSON relay baseline.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyFixture, fixture, packagesDir, startDaemon } from '../lib/daemon.mjs';
import { processTree, spawnNdjson } from '../lib/procs.mjs';

const RELAY = fileURLToPath(new URL('../lib/ndjson-relay.mjs', import.meta.url));

/** Events/s of each 'bench burst' line, warm-up rounds dropped. */
function rates(bursts, warmupRounds) {
  return bursts.filter((b) => b.round > warmupRounds).map((b) => {
    if (b.received !== b.sent) {
      throw new Error(`round ${b.round}: ${b.received} of ${b.sent} events arrived`);
    }
    return b.sent / (b.ns / 1e9);
  });
}

/**
 * Runs the relay baseline: `params` = { rounds, count, pings, warmupPings, warmupRounds }.
 * Returns { rates: events/s per round, latencyUs: samples }.
 */
export async function runRelay(params, batch = 1) {
  const sock = join('/tmp', `eos-bench-relay-${process.pid}-${batch}.sock`);
  await rm(sock, { force: true });
  const relay = spawnNdjson(process.execPath, [RELAY, 'relay', sock, String(batch)]);
  const procs = [relay];
  try {
    await relay.waitFor((l) => l.msg === 'listening', 10_000, 'relay listening');
    const receiver = spawnNdjson(process.execPath, [RELAY, 'receiver', sock, JSON.stringify(params)]);
    procs.push(receiver, spawnNdjson(process.execPath, [RELAY, 'sender', sock, String(batch)]));
    const timeoutMs = 60_000 + params.rounds * 30_000;
    await receiver.waitFor((l) => l.msg === 'bench latency', timeoutMs, 'relay baseline results');
    const bursts = receiver.lines.filter((l) => l.msg === 'bench burst');
    return { rates: rates(bursts, params.warmupRounds), latencyUs: receiver.lines.find((l) => l.msg === 'bench latency').us };
  } finally {
    await Promise.all(procs.map((p) => p.kill()));
    await rm(sock, { force: true });
  }
}

const TICKS_PER_SEC = 100; // USER_HZ on Linux

/** utime + stime of one process (`tree`: and all its descendants), µs; 0 for a process that is gone. */
async function cpuUs(pid, tree = false) {
  let total = 0;
  for (const p of tree ? await processTree(pid) : [pid]) {
    try {
      const stat = await readFile(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += ((Number(f[11]) + Number(f[12])) * 1e6) / TICKS_PER_SEC;
    } catch {
      // Ended between listing and reading: its CPU is no longer attributed to the tree.
      continue;
    }
  }
  return total;
}

/** Runs the same protocol through eosd between two agent processes, every check on. */
export async function runEosd(params, { rateLimit, daemonEnv = {}, daemonNodeArgs = [] } = {}) {
  const total = params.count * (params.rounds + 1);
  const pkgs = await packagesDir();
  let daemon;
  try {
    // The receiver reads its parameters from bench.json in its own package.
    const receiver = await copyFixture(pkgs, 'bench-receiver', { 'bench.json': JSON.stringify(params) });
    daemon = await startDaemon(
      {
        // Big enough that no event of a burst is dropped: the bench measures delivery, not shedding.
        bus: { queueCapacity: Math.max(10_000, params.count * 2), globalRateLimit: { eventsPerSec: 1_000_000, burst: Math.max(400_000, total) } },
        agents: [
          { id: 'bench-receiver', package: receiver, tier: 'low', autostart: false },
          {
            id: 'bench-sender',
            package: fixture('bench-sender'),
            tier: 'low',
            autostart: false,
            rateLimit: rateLimit ?? { eventsPerSec: 1_000_000, burst: Math.max(10_000, params.count * 2) },
          },
        ],
      },
      { extraEnv: daemonEnv, nodeArgs: daemonNodeArgs },
    );
    // CPU of each process to the results, divided by the events counted: for bursts (P1) from the
    // moment both agents are ready (start-up excluded; the run starts then, so its first milliseconds
    // may be missed), warm-up rounds included; for pings alone (P2) from the receiver's 'bench warm'
    // line (the end of the warm-up pings, whose cold-JIT frames cost several times a warm one) over
    // the measured pings only. That line reaches the runner a few pings late: the window misses them.
    const receiverPid = (await daemon.client.startAgent('bench-receiver')).pid;
    const senderPid = (await daemon.client.startAgent('bench-sender')).pid;
    const daemonPid = daemon.proc.child.pid;
    const pingsOnly = params.rounds === 0 && params.pings > 0;
    if (pingsOnly) {
      await daemon.proc.waitFor((l) => l.msg === 'bench warm' || l.msg === 'bench control emit failed', 60_000, 'end of the P2 warm-up');
    }
    const cpu0 = { daemon: await cpuUs(daemonPid), sender: await cpuUs(senderPid, true), receiver: await cpuUs(receiverPid, true) };
    const timeoutMs = 60_000 + params.rounds * 60_000;
    await daemon.proc.waitFor((l) => l.msg === 'bench latency' || l.msg === 'bench control emit failed', timeoutMs, 'eosd bench results');
    const events = pingsOnly ? params.pings : params.count * params.rounds + params.pings + params.warmupPings;
    const cpuUsPerEvent = {
      daemon: ((await cpuUs(daemonPid)) - cpu0.daemon) / events,
      sender: ((await cpuUs(senderPid, true)) - cpu0.sender) / events,
      receiver: ((await cpuUs(receiverPid, true)) - cpu0.receiver) / events,
    };
    const failed = daemon.proc.lines.find((l) => l.msg === 'bench control emit failed' || l.msg === 'bench emits refused');
    if (failed !== undefined) {
      throw new Error(`bench agents reported a failure: ${JSON.stringify(failed)}`);
    }
    const bursts = daemon.proc.lines.filter((l) => l.msg === 'bench burst').map((l) => l.agent);
    const latency = daemon.proc.lines.find((l) => l.msg === 'bench latency').agent.us;
    const phases = daemon.proc.lines.filter((l) => l.msg === 'bench sender phases').map((l) => l.agent);
    return {
      rates: rates(bursts, params.warmupRounds),
      latencyUs: latency,
      // Where a burst's time goes: the sender's synchronous emit loop, and the first arrival at B.
      loopMs: phases.slice(params.warmupRounds).map((p) => p.loopMs),
      firstMs: bursts.filter((b) => b.round > params.warmupRounds).map((b) => b.firstMs),
      cpuUsPerEvent,
      status: await daemon.client.getStatus(),
    };
  } finally {
    await daemon?.stop();
    await rm(pkgs, { recursive: true, force: true });
  }
}
