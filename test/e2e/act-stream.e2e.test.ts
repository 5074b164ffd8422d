import { once } from 'node:events';
import { chmod, cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { fixtureAgent, runEosd, startDaemon } from './helpers/daemon.js';

describe('acts on the session stream', () => {
  it('completes ungated acts while an earlier act waits for approval, and answers the gated one when its approval times out', async () => {
    const d = await startDaemon({
      approvals: { timeoutMs: 4_000, gatedChannels: ['mixer.gated'] },
      agents: [{ id: 'act-mixer', package: fixtureAgent('act-mixer'), tier: 'low' }],
    });
    const free = await d.out.waitFor((l) => l.agentId === 'act-mixer' && l.msg === 'free acts done', 30_000);
    expect(free.agent).toEqual({ ok: 50, failed: 0, distinctEventIds: 50, gatedOutcome: 'pending' });
    const gated = await d.out.waitFor((l) => l.agentId === 'act-mixer' && l.msg === 'gated act done', 30_000);
    expect(gated.agent).toEqual({ gatedOutcome: 'EOS_APPROVAL_DENIED' });
  });

  it('keeps 1024 acts in flight from one agent (several ActBatch frames at once): every act is answered and recorded once', async () => {
    // A copy of bench-actor next to the fixtures (so it resolves the SDK), with its window in bench.json.
    const pkgs = await mkdtemp(join(fixtureAgent('.'), '.e2e-window-'));
    onTestFinished(() => rm(pkgs, { recursive: true, force: true }));
    await chmod(pkgs, 0o755);
    const pkg = join(pkgs, 'bench-actor');
    await cp(fixtureAgent('bench-actor'), pkg, { recursive: true });
    await writeFile(join(pkg, 'bench.json'), JSON.stringify({ inFlight: 1024, seconds: 1 }), { mode: 0o644 });
    const d = await startDaemon({ agents: [{ id: 'bench-actor', package: pkg, tier: 'low', rateLimit: { eventsPerSec: 1e6, burst: 1e6 } }] });
    const done = await d.out.waitFor((l) => l.agentId === 'bench-actor' && l.msg === 'bench acts', 60_000);
    const { acts, failed, inFlight } = done.agent as { acts: number; failed: number; inFlight: number };
    expect({ failed, inFlight }).toEqual({ failed: 0, inFlight: 1024 });
    expect(acts).toBeGreaterThan(1024);
    d.child.kill('SIGTERM');
    await once(d.child, 'exit');
    const q = await runEosd(['ledger', 'query', '--stream', 'decisions', '--state-dir', join(d.dir, 's'), '--kind', 'agent.act', '--limit', '10000000'], 60_000);
    expect(q.code, q.stderr).toBe(0);
    const eventIds = q.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => (JSON.parse(l) as { payload: { eventId: string } }).payload.eventId);
    // Every act the agent saw resolve has its own record; none was recorded twice.
    expect(eventIds).toHaveLength(acts);
    expect(new Set(eventIds).size).toBe(acts);
  });
});

describe('acts awaited while events flood in', () => {
  it('answers an act awaited by a handler while more events are queued than agent-host reads ahead (no deadlock)', { timeout: 90_000 }, async () => {
    const d = await startDaemon({
      bus: { queueCapacity: 10_000 },
      agents: [
        { id: 'flood-actor', package: fixtureAgent('flood-actor'), tier: 'low' },
        { id: 'flood-sender', package: fixtureAgent('flood-sender'), tier: 'low' },
      ],
    });
    // 1,500 events queue behind the first handler, which then awaits an act; every handler acts.
    const done = await d.out.waitFor((l) => l.agentId === 'flood-actor' && l.msg === 'flood acted' && (l.agent as { acted: number }).acted === 1500, 60_000);
    expect(done.agent).toEqual({ acted: 1500 });
  });
});
