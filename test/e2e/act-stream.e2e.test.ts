import { describe, expect, it } from 'vitest';
import { fixtureAgent, startDaemon } from './helpers/daemon.js';

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
});
