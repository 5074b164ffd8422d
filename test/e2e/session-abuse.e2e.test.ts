import { once } from 'node:events';
import { chmod, cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { EXAMPLES, fixtureAgent, runEosd, startDaemon, type RunningDaemon } from './helpers/daemon.js';

async function stopDaemon(d: RunningDaemon): Promise<void> {
  d.client.close();
  d.child.kill('SIGTERM');
  await once(d.child, 'exit');
}

/** Records of one ledger stream, read with the operator's tool (daemon stopped). */
async function ledger(d: RunningDaemon, stream: 'audit' | 'decisions', kind: string): Promise<{ agent: string | null; payload: Record<string, unknown> }[]> {
  const res = await runEosd(['ledger', 'query', '--stream', stream, '--state-dir', join(d.dir, 's'), '--kind', kind, '--limit', '10000000'], 60_000);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { agent: string | null; payload: Record<string, unknown> });
}

describe('a hostile agent process on its session (STRIDE D-7)', () => {
  it('ends the session of an agent that writes a frame of 2,000 emits with EOS_PROTOCOL_VIOLATION, kills the agent, audits it once, and the daemon serves on', async () => {
    const d = await startDaemon({
      agents: [
        { id: 'frame-stuffer', package: fixtureAgent('frame-stuffer'), tier: 'low', restart: 'temporary' },
        { id: 'ping', package: join(EXAMPLES, 'ping'), tier: 'low' },
      ],
    });
    const violation = await d.out.waitFor((l) => l.agentId === 'frame-stuffer' && l.msg === 'session protocol violation; ending the session', 30_000);
    expect(violation).toMatchObject({ code: 'EOS_PROTOCOL_VIOLATION', reason: 'too_many_entries', frame: 'emits', entries: 2000 });
    await d.out.waitFor((l) => l.agentId === 'frame-stuffer' && l.msg === 'agent broke the session protocol; killing');
    await d.out.waitFor((l) => l.agentId === 'frame-stuffer' && l.msg === 'agent process exited');
    // Not one entry of the frame was checked: no MAC failure, and the genuine first emit was not published.
    expect(d.out.count((l) => l.agentId === 'frame-stuffer' && l.msg === 'call authentication failed')).toBe(0);
    expect(d.out.count((l) => l.msg === 'stuffed frame accepted')).toBe(0);
    await expect.poll(async () => (await d.client.getAgent('frame-stuffer')).state, { timeout: 10_000 }).not.toMatch(/running|starting|ready/);
    expect(await d.client.getAgent('ping')).toMatchObject({ state: 'running' });
    await stopDaemon(d);
    const audits = await ledger(d, 'audit', 'session.protocol_violation');
    expect(audits).toEqual([{ ...audits[0], agent: 'frame-stuffer', payload: { reason: 'too_many_entries', frame: 'emits', entries: 2000 } }]);
    expect(await ledger(d, 'audit', 'auth.rejected')).toEqual([]);
  });
});

describe('acts racing the emergency stop', () => {
  it('delivers no act after the emergency stop engaged: every recorded act was delivered before it or withheld and audited', { timeout: 120_000 }, async () => {
    // A copy of bench-actor next to the fixtures (so it resolves the SDK): 1,024 acts in flight until it is killed.
    const pkgs = await mkdtemp(join(fixtureAgent('.'), '.e2e-estop-'));
    onTestFinished(() => rm(pkgs, { recursive: true, force: true }));
    await chmod(pkgs, 0o755);
    const pkg = join(pkgs, 'bench-actor');
    await cp(fixtureAgent('bench-actor'), pkg, { recursive: true });
    await writeFile(join(pkg, 'bench.json'), JSON.stringify({ inFlight: 1024, seconds: 600 }), { mode: 0o644 });
    const d = await startDaemon({ agents: [{ id: 'bench-actor', package: pkg, tier: 'low', rateLimit: { eventsPerSec: 1e6, burst: 1e6 } }] });
    const delivered = (l: { agentId?: unknown; msg?: unknown }): boolean => l.agentId === 'bench-actor' && l.msg === 'agent act';
    await expect.poll(() => d.out.count(delivered), { timeout: 60_000, interval: 100 }).toBeGreaterThan(3_000);
    await d.client.emergencyStop('e2e: acts racing the stop');
    await expect.poll(async () => (await d.client.getAgent('bench-actor')).state, { timeout: 20_000 }).not.toMatch(/running|starting|ready/);
    // The daemon logs in the order things happen on its one thread: no delivery after the stop engaged.
    const engagedAt = d.out.lines.findIndex((l) => l.msg === 'emergency stop engaged');
    expect(engagedAt).toBeGreaterThan(0);
    expect(d.out.lines.slice(engagedAt).filter(delivered)).toEqual([]);
    const deliveredIds = new Set(d.out.lines.filter(delivered).map((l) => l.eventId as string));
    await stopDaemon(d);
    const recorded = (await ledger(d, 'decisions', 'agent.act')).map((r) => r.payload.eventId as string);
    const withheld = (await ledger(d, 'audit', 'agent.act_withheld')).map((r) => r.payload);
    expect(withheld.every((w) => w.code === 'EOS_ESTOP_ACTIVE')).toBe(true);
    expect(recorded.filter((id) => !deliveredIds.has(id)).sort()).toEqual(withheld.map((w) => w.eventId as string).sort());
    expect(recorded.length).toBeGreaterThan(3_000);
  });
});
