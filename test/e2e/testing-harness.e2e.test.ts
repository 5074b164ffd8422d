import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startAgentHarness, type AgentHarnessOptions } from '@everythingos/sdk/testing';
import { fixtureAgent } from './helpers/daemon.js';

async function harness(opts: Partial<AgentHarnessOptions> = {}): ReturnType<typeof startAgentHarness> {
  const h = await startAgentHarness({ packageDir: fixtureAgent('harness-echo'), ...opts });
  onTestFinished(() => h.close());
  return h;
}

describe('@everythingos/sdk/testing', () => {
  it('runs the agent under a real eosd: events in and out, state persisted across a restart', async () => {
    const h = await harness();
    expect(await h.status()).toMatchObject({ state: 'running' });
    await h.emit('echo.in', { op: 'echo', n: 7 });
    const out = await h.nextEvent<{ n: number; from: string }>('echo.out');
    expect(out).toMatchObject({ channel: 'echo.out', source: 'harness-echo', payload: { n: 7, from: 'eos-test-peer' } });
    expect(await h.getState('last')).toBe(7);

    const before = await h.status();
    await h.restart();
    const after = await h.status();
    expect(after.state).toBe('running');
    expect(after.pid).not.toBe(before.pid);
    expect(await h.getState('last')).toBe(7);
    await h.emit('echo.in', { op: 'echo', n: 8 });
    expect((await h.nextEvent<{ n: number }>('echo.out')).payload.n).toBe(8);
  });

  it('observes acts with the supervisor-set source and logs the act', async () => {
    const h = await harness();
    await h.emit('echo.in', { op: 'act', n: 3 });
    expect(await h.nextEvent('echo.act')).toMatchObject({ source: 'harness-echo', payload: { n: 3 } });
    await h.waitForLog((l) => l.msg === 'agent act' && l.channel === 'echo.act');
  });

  it('applies the real channel ACL to the agent and to the test', async () => {
    const h = await harness();
    await h.emit('echo.in', { op: 'undeclared', n: 1 });
    await expect.poll(() => h.getState('deniedCode'), { timeout: 10_000 }).toBe('EOS_PERMISSION_DENIED');
    await h.waitForLog((l) => l.msg === 'acl denied' && l.channel === 'echo.secret');
    // The test may only inject on the agent's subscribe channels unless it widens `inject`.
    await expect(h.emit('echo.out', { forged: true })).rejects.toMatchObject({ code: 'EOS_PERMISSION_DENIED' });
  });

  it('applies the real rate limit configured for the agent', async () => {
    const h = await harness({ rateLimit: { eventsPerSec: 1, burst: 5 } });
    await h.emit('echo.in', { op: 'burst', n: 20 });
    await expect.poll(() => h.getState<number>('limited'), { timeout: 10_000 }).toBeGreaterThanOrEqual(14);
    expect(h.events('echo.out').length).toBeLessThanOrEqual(6);
  });

  it('fails with EOS_NOT_FOUND when the package cannot resolve @everythingos/supervisor', async () => {
    const dir = await mkdtemp('/tmp/eosh-nf-');
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify({
        name: 'lonely',
        version: '1.0.0',
        everythingos: { id: 'lonely', name: 'Lonely', version: '1.0.0', description: 'Has no eosd to run under.', tier: 'low' },
      }),
    );
    await expect(startAgentHarness({ packageDir: dir })).rejects.toMatchObject({ code: 'EOS_NOT_FOUND' });
  });

  it('reports an agent that fails to start with the daemon output and cleans up', async () => {
    const root = await mkdtemp('/tmp/eosh-r-');
    onTestFinished(() => rm(root, { recursive: true, force: true }));
    await chmod(root, 0o711); // as root, eosd refuses state directories agent uids cannot traverse
    const h = startAgentHarness({ packageDir: fixtureAgent('crash-on-start'), startTimeoutMs: 20_000, tmpRoot: root });
    await expect(h).rejects.toThrow(/eosd output[\s\S]*crash on start, on purpose/);
    expect(await readdir(root)).toEqual([]);
  });
});
