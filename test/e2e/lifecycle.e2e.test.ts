import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXAMPLES, fixtureAgent, isAlive, startDaemon } from './helpers/daemon.js';

describe('agent lifecycle', () => {
  it('restarts a crashing agent with exponential backoff and marks it errored past its restart intensity', async () => {
    const d = await startDaemon({
      agents: [
        {
          id: 'crasher',
          package: fixtureAgent('crash-on-start'),
          tier: 'low',
          intensity: { maxRestarts: 3, windowSec: 60 },
          backoff: { initialMs: 100, factor: 2, maxMs: 1_000, jitter: 0 },
        },
      ],
    });
    await d.out.waitFor((l) => l.agentId === 'crasher' && l.to === 'errored', 30_000);
    const delays = d.out.lines.filter((l) => l.agentId === 'crasher' && l.msg === 'agent restart scheduled').map((l) => l.delayMs);
    expect(delays).toEqual([100, 200, 400]);
    await d.out.waitFor((l) => l.agentId === 'crasher' && l.code === 'EOS_AGENT_CRASH_LOOP');
    expect(d.out.count((l) => l.agentId === 'crasher' && l.code === 'EOS_AGENT_CRASH_LOOP')).toBe(1);
    const info = await d.client.getAgent('crasher');
    expect(info).toMatchObject({ state: 'errored', restarts: 3, lastExit: 'exit 1', pid: 0 });
    // An operator start clears the history and tries again.
    await expect(d.client.startAgent('crasher')).rejects.toMatchObject({ code: 'EOS_AGENT_EXITED' });
  });

  it('kills an agent that ignores shutdown and SIGTERM after its grace periods, and awaits its exit', async () => {
    const d = await startDaemon({
      agents: [{ id: 'hanger', package: fixtureAgent('hang-on-stop'), tier: 'low', stopGraceMs: 300, killTimeoutMs: 300 }],
    });
    const { pid } = await d.client.getAgent('hanger');
    const t0 = Date.now();
    const stopped = await d.client.stopAgent('hanger');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(600);
    expect(stopped).toMatchObject({ state: 'stopped', lastExit: 'signal SIGKILL', pid: 0 });
    expect(isAlive(pid)).toBe(false);
    expect(d.out.count((l) => l.agentId === 'hanger' && l.msg === 'agent ignored SIGTERM; sending SIGKILL')).toBe(1);
  });

  it('kills a hung agent that stops sending heartbeats and applies its restart policy', async () => {
    const d = await startDaemon({
      agents: [
        {
          id: 'spinner',
          package: fixtureAgent('busy-loop'),
          tier: 'low',
          restart: 'transient',
          intensity: { maxRestarts: 0, windowSec: 60 },
          heartbeatIntervalMs: 100,
          heartbeatTimeoutMs: 600,
        },
      ],
    });
    await d.out.waitFor((l) => l.agentId === 'spinner' && l.msg === 'agent unresponsive (no heartbeat); killing');
    await d.out.waitFor((l) => l.agentId === 'spinner' && l.to === 'errored');
    expect(await d.client.getAgent('spinner')).toMatchObject({ state: 'errored', lastExit: 'signal SIGKILL' });
  });

  it('leaves no agent process behind when the supervisor is killed with SIGKILL', async () => {
    const d = await startDaemon({
      agents: [
        { id: 'ping', package: join(EXAMPLES, 'ping'), tier: 'low' },
        { id: 'heartbeat', package: join(EXAMPLES, 'heartbeat'), tier: 'low' },
      ],
    });
    const pids = (await d.client.listAgents()).map((a) => a.pid);
    expect(pids.every((p) => p > 0 && isAlive(p))).toBe(true);
    d.child.kill('SIGKILL');
    await expect.poll(() => pids.filter(isAlive), { timeout: 5_000, interval: 50 }).toEqual([]);
  });
});
