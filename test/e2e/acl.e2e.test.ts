import { describe, expect, it } from 'vitest';
import { fixtureAgent, startDaemon } from './helpers/daemon.js';

describe('channel ACL', () => {
  it('rejects undeclared publish, subscribe and act with EOS_PERMISSION_DENIED, logs them, and never delivers undeclared channels', async () => {
    const d = await startDaemon({
      agents: [
        { id: 'acl-probe', package: fixtureAgent('acl-probe'), tier: 'low' },
        { id: 'talker', package: fixtureAgent('talker'), tier: 'low' },
      ],
    });
    const outcome = await d.out.waitFor((l) => l.agentId === 'acl-probe' && l.msg === 'probe outcomes');
    expect(outcome.agent).toEqual({
      emitForbidden: 'EOS_PERMISSION_DENIED',
      subscribeForbidden: 'EOS_PERMISSION_DENIED',
      actForbidden: 'EOS_PERMISSION_DENIED',
    });
    for (const action of ['publish', 'subscribe', 'act']) {
      await d.out.waitFor(
        (l) => l.component === 'supervisor' && l.agentId === 'acl-probe' && l.msg === 'acl denied' && l.action === action && l.channel === 'probe.secret',
      );
    }
    // The talker publishes on both channels every 50 ms; the probe declared only probe.open.
    await expect
      .poll(() => d.out.count((l) => l.agentId === 'acl-probe' && l.msg === 'probe received'), { timeout: 15_000 })
      .toBeGreaterThanOrEqual(10);
    const received = d.out.lines.filter((l) => l.agentId === 'acl-probe' && l.msg === 'probe received');
    expect(received.every((l) => (l.agent as { channel: string }).channel === 'probe.open')).toBe(true);
    expect(received.every((l) => (l.agent as { source: string }).source === 'talker')).toBe(true);
    const status = await d.client.getStatus();
    const bus = JSON.parse(status.busJson.toString()) as { aclDenied: number; published: number };
    expect(bus.aclDenied).toBeGreaterThanOrEqual(3);
    expect(bus.published).toBeGreaterThan(0);
  });
});
