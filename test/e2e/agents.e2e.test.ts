import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXAMPLES, isAlive, runEosd, startDaemon } from './helpers/daemon.js';

const isRoot = process.getuid?.() === 0;

async function procRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]) * 1024;
}

async function procUid(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^Uid:\s+(\d+)/m.exec(status);
  return Number(m?.[1]);
}

const demoAgents = [
  { id: 'ping', package: join(EXAMPLES, 'ping'), tier: 'low' as const },
  { id: 'heartbeat', package: join(EXAMPLES, 'heartbeat'), tier: 'low' as const },
];

describe('agent processes', () => {
  it('runs each agent in its own process, under its own non-root uid when eosd is root, listed by agents ls --json', async () => {
    if (!isRoot) {
      if (process.env.CI) {
        throw new Error('CI must run this test as root: it proves agents never run as root');
      }
      console.warn('not root: the per-agent uid part of this test is skipped');
    }
    const d = await startDaemon({ agents: demoAgents });
    await d.out.waitFor((l) => l.agentId === 'ping' && l.msg === 'pong received');
    const res = await runEosd(['agents', 'ls', '--json', '--socket', d.controlSocket]);
    expect(res.code).toBe(0);
    const agents = JSON.parse(res.stdout) as { id: string; state: string; pid: number; uid: number; tier: string; restarts: number; memoryBytes: number }[];
    expect(agents.map((a) => a.id).sort()).toEqual(['heartbeat', 'ping']);
    for (const a of agents) {
      expect(a).toMatchObject({ state: 'running', tier: 'low', restarts: 0 });
      expect(a.pid).toBeGreaterThan(0);
      expect(a.pid).not.toBe(d.child.pid);
      expect(isAlive(a.pid)).toBe(true);
      expect(await procUid(a.pid)).toBe(a.uid);
      // memoryBytes comes from the daemon's background RSS sampler: the process's real RSS, at most ~1 s old.
      expect(a.memoryBytes).toBeGreaterThan(10 * 1024 * 1024);
      expect(Math.abs(a.memoryBytes - (await procRss(a.pid)))).toBeLessThan(24 * 1024 * 1024);
    }
    expect(new Set(agents.map((a) => a.pid)).size).toBe(2);
    if (isRoot) {
      expect(agents.every((a) => a.uid !== 0)).toBe(true);
      expect(new Set(agents.map((a) => a.uid)).size).toBe(2);
    }
    const table = await runEosd(['agents', 'ls', '--socket', d.controlSocket]);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+TIER\s+STATE\s+PID\s+UID\s+UPTIME/);
    expect(table.stdout).toMatch(/\nping\s+Ping\s+low\s+running\s+\d+/);
  });

  it('stops, starts and restarts one agent from the CLI, and names unknown agents with EOS_NOT_FOUND', async () => {
    const d = await startDaemon({ agents: demoAgents });
    const before = await d.client.getAgent('ping');
    const stop = await runEosd(['agents', 'stop', 'ping', '--json', '--socket', d.controlSocket]);
    expect(stop.code).toBe(0);
    expect(JSON.parse(stop.stdout)).toMatchObject({ id: 'ping', state: 'stopped', pid: 0, lastExit: 'exit 0' });
    expect(isAlive(before.pid)).toBe(false);
    expect((await d.client.getAgent('heartbeat')).state).toBe('running');
    const start = await runEosd(['agents', 'start', 'ping', '--json', '--socket', d.controlSocket]);
    expect(start.code).toBe(0);
    const started = JSON.parse(start.stdout) as { state: string; pid: number };
    expect(started.state).toBe('running');
    expect(started.pid).not.toBe(before.pid);
    const restart = await runEosd(['agents', 'restart', 'ping', '--json', '--socket', d.controlSocket]);
    expect(restart.code).toBe(0);
    expect(JSON.parse(restart.stdout)).toMatchObject({ state: 'running' });
    const again = await runEosd(['agents', 'start', 'ping', '--socket', d.controlSocket]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('EOS_ILLEGAL_STATE');
    const missing = await runEosd(['agents', 'stop', 'nope', '--socket', d.controlSocket]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('EOS_NOT_FOUND');
    // The ping agent persisted its counter through the supervisor across restarts.
    await d.out.waitFor((l) => l.agentId === 'ping' && l.msg === 'pong received' && (l.agent as { n: number }).n > 2);
  });

  it('reports a missing daemon with a non-zero exit and a clear message', async () => {
    const res = await runEosd(['status', '--socket', '/tmp/eosd-does-not-exist.sock']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/EOS_UNAVAILABLE/);
  });
});
