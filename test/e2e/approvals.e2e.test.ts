import { once } from 'node:events';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createControlClient, generateApproverKey, signDecision, type ApproverKeyFile, type DaemonConfigInput } from '@everythingos/supervisor';
import { loadAgentProto } from '@everythingos/proto';
import { EXAMPLES, isAlive, runEosd, startDaemon, tmpDir, type RunningDaemon } from './helpers/daemon.js';

const ping = { id: 'ping', package: join(EXAMPLES, 'ping'), tier: 'low' as const };
const heartbeat = { id: 'heartbeat', package: join(EXAMPLES, 'heartbeat'), tier: 'low' as const };

/** Creates an approver key with the real CLI; returns its path and parsed contents. */
async function cliKey(dir: string, id: string): Promise<{ path: string; key: ApproverKeyFile }> {
  const path = join(dir, `${id}.key`);
  const res = await runEosd(['keys', 'approver', 'init', '--id', id, '--out', path, '--json']);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  expect((await stat(path)).mode & 0o777).toBe(0o600);
  const key = JSON.parse(await readFile(path, 'utf8')) as ApproverKeyFile;
  expect(JSON.parse(res.stdout)).toMatchObject({ path, approver: { id, publicKey: key.publicKey } });
  return { path, key };
}

async function stopDaemon(d: RunningDaemon): Promise<void> {
  d.client.close();
  d.child.kill('SIGTERM');
  await once(d.child, 'exit');
}

interface Rec {
  kind: string;
  agentId?: string;
  payload: Record<string, unknown>;
}
/** The audit ledger's records, read with the operator's tool. */
async function records(stateDir: string): Promise<Rec[]> {
  const res = await runEosd(['ledger', 'query', '--stream', 'audit', '--state-dir', stateDir, '--limit', '100000']);
  expect(res.code).toBe(0);
  return res.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const r = JSON.parse(l) as { kind: string; agent: string | null; payload: Record<string, unknown> };
      return { kind: r.kind, ...(r.agent === null ? {} : { agentId: r.agent }), payload: r.payload };
    });
}

describe('emergency stop', () => {
  it('kills every agent, blocks starts across a daemon restart, and clears only with a registered approver signature', async () => {
    const dir = await tmpDir();
    const alice = await cliKey(dir, 'alice');
    const mallory = await cliKey(dir, 'mallory');
    const config: DaemonConfigInput = {
      stateDir: join(dir, 's'),
      approvals: { approvers: [{ id: 'alice', publicKey: alice.key.publicKey }] },
      agents: [ping, heartbeat],
    };
    const d1 = await startDaemon(config);
    const pids = (await d1.client.listAgents()).map((a) => a.pid);
    expect(pids.every((p) => p > 0)).toBe(true);

    const res = await runEosd(['estop', '--reason', 'drill', '--socket', d1.controlSocket]);
    expect(res.stdout).toContain('emergency stop engaged; 2 agent(s) stopped');
    expect(pids.some(isAlive)).toBe(false);
    expect((await d1.client.listAgents()).map((a) => a.state)).toEqual(['stopped', 'stopped']);
    await expect(d1.client.startAgent('ping')).rejects.toMatchObject({ code: 'EOS_ESTOP_ACTIVE' });
    await expect(d1.client.restartAgent('ping')).rejects.toMatchObject({ code: 'EOS_ESTOP_ACTIVE' });
    await stopDaemon(d1);

    const d2 = await startDaemon(config);
    expect(d2.out.count((l) => l.msg === 'agent failed to start' && l.code === 'EOS_ESTOP_ACTIVE')).toBe(2);
    expect((await d2.client.listAgents()).map((a) => a.state)).toEqual(['stopped', 'stopped']);

    const forged = await runEosd(['estop', 'clear', '--key', mallory.path, '--socket', d2.controlSocket]);
    expect(forged.code).toBe(1);
    expect(forged.stderr).toContain('EOS_APPROVAL_INVALID: decision refused: unregistered-key');
    await expect(d2.client.startAgent('ping')).rejects.toMatchObject({ code: 'EOS_ESTOP_ACTIVE' });

    const cleared = await runEosd(['estop', 'clear', '--key', alice.path, '--socket', d2.controlSocket]);
    expect(cleared.stderr).toBe('');
    expect(cleared.stdout).toMatch(/^emergency stop cleared \(apr-[0-9a-f]{24}\)/);
    await expect(d2.client.startAgent('ping')).resolves.toMatchObject({ state: 'running' });
    const kinds = (await records(join(dir, 's'))).map((r) => r.kind).filter((k) => k.startsWith('estop.') || k.startsWith('approval.'));
    expect(kinds).toEqual(['estop.engaged', 'approval.requested', 'approval.decision-rejected', 'approval.decided', 'estop.cleared']);
  });
});

describe('quarantine and approvals through the CLI', () => {
  it('quarantines an agent; a start opens a release approval that a signed deny refuses and a signed approve grants', async () => {
    const dir = await tmpDir();
    const alice = await cliKey(dir, 'alice');
    const d = await startDaemon({
      stateDir: join(dir, 's'),
      approvals: { approvers: [{ id: 'alice', publicKey: alice.key.publicKey }] },
      agents: [ping],
    });
    const sock = ['--socket', d.controlSocket];
    const { pid } = await d.client.getAgent('ping');
    const q = await runEosd(['agents', 'quarantine', 'ping', '--reason', 'suspicious', '--json', ...sock]);
    expect(q.code).toBe(0);
    const { snapshotDir } = JSON.parse(q.stdout) as { snapshotDir: string };
    expect(isAlive(pid)).toBe(false);
    expect(JSON.parse(await readFile(join(snapshotDir, 'record.json'), 'utf8'))).toMatchObject({ agentId: 'ping', active: true, reason: 'suspicious' });
    expect(JSON.parse(await readFile(join(snapshotDir, 'audit.json'), 'utf8'))).toEqual(expect.any(Array));

    const refused = await runEosd(['agents', 'start', 'ping', ...sock]);
    expect(refused.code).toBe(1);
    const firstId = /approval (apr-[0-9a-f]{24})/.exec(refused.stderr)?.[1];
    expect(refused.stderr).toContain('EOS_AGENT_QUARANTINED');
    expect(firstId).toBeDefined();
    const ls = JSON.parse((await runEosd(['approvals', 'ls', '--json', ...sock])).stdout) as { id: string; kind: string; state: string }[];
    expect(ls).toMatchObject([{ id: firstId, kind: 'quarantine-release', state: 'pending' }]);

    const denied = await runEosd(['deny', String(firstId), '--reason', 'not yet', '--key', alice.path, ...sock]);
    expect(denied.stdout).toContain(`denied ${String(firstId)}`);
    await expect(d.client.startAgent('ping')).rejects.toMatchObject({ code: 'EOS_AGENT_QUARANTINED' });
    const secondId = (await d.client.listApprovals()).find((a) => a.state === 'pending')?.id;
    expect(secondId).not.toBe(firstId);

    const approved = await runEosd(['approve', String(secondId), '--reason', 'cleaned up', '--key', alice.path, ...sock]);
    expect(approved.stderr).toBe('');
    expect(approved.stdout).toContain(`approved ${String(secondId)} (quarantine-release ping)`);
    const started = await runEosd(['agents', 'start', 'ping', ...sock]);
    expect(started.stdout).toMatch(/^started ping: running/);
    const decided = (await records(join(dir, 's'))).filter((r) => r.kind === 'approval.decided').map((r) => r.payload);
    expect(decided).toMatchObject([
      { requestId: firstId, decision: 'deny', approverKeyId: 'alice', reason: 'not yet' },
      { requestId: secondId, decision: 'approve', approverKeyId: 'alice', reason: 'cleaned up' },
    ]);
  });
});

describe('approval forgeries', () => {
  it('refuses and audits raw, replayed, cross-request, unregistered, stale and agent-socket decisions', async () => {
    const dir = await tmpDir();
    const alice = generateApproverKey('alice');
    const mallory = generateApproverKey('mallory');
    const stateDir = join(dir, 's');
    const d = await startDaemon({
      stateDir,
      approvals: { approvers: [{ id: 'alice', publicKey: alice.publicKey }], freshnessMs: 10_000 },
      agents: [ping, heartbeat],
    });
    for (const id of ['ping', 'heartbeat']) {
      await d.client.quarantineAgent(id, 'test');
      await expect(d.client.startAgent(id)).rejects.toMatchObject({ code: 'EOS_AGENT_QUARANTINED' });
    }
    const pending = await d.client.listApprovals();
    const target = pending.find((a) => a.agentId === 'ping');
    const other = pending.find((a) => a.agentId === 'heartbeat');
    if (target === undefined || other === undefined) {
      throw new Error('expected two pending approvals');
    }
    const sign = (key: ApproverKeyFile, f: { requestId: string; challenge: string; timeMs?: number; approverKeyId?: string }) => {
      const fields = { decision: 'approve' as const, approverKeyId: key.id, timeMs: Date.now(), reason: '', ...f };
      return { ...fields, signature: Buffer.from(signDecision(fields, Buffer.from(key.secretKey, 'base64'))) };
    };
    const onTarget = { requestId: target.id, challenge: target.challenge };
    const forOther = sign(alice, { requestId: other.id, challenge: other.challenge });

    const attempts: [string, Parameters<typeof d.client.decideApproval>[0]][] = [
      ['bad-signature', { ...onTarget, decision: 'approve', approverKeyId: 'alice', timeMs: Date.now(), reason: '', signature: Buffer.alloc(64) }],
      ['unregistered-key', sign(mallory, onTarget)],
      ['bad-signature', { ...sign(mallory, onTarget), approverKeyId: 'alice' }],
      ['bad-signature', { ...forOther, ...onTarget }],
      ['challenge-mismatch', sign(alice, { requestId: target.id, challenge: other.challenge })],
      ['stale', sign(alice, { ...onTarget, timeMs: Date.now() - 60_000 })],
    ];
    for (const [reason, req] of attempts) {
      await expect(d.client.decideApproval(req), reason).rejects.toMatchObject({ code: 'EOS_APPROVAL_INVALID', message: `decision refused: ${reason}` });
    }

    // The agent socket serves no decision RPC at all: even a validly signed decision sent there is UNIMPLEMENTED.
    const agentMethods = Object.keys(loadAgentProto().eos.agent.v1.AgentService.service);
    expect(agentMethods.filter((m) => /approv|decide|estop|quarantine/i.test(m))).toEqual([]);
    const agentSocket = createControlClient(join(d.dir, 'r', 'agents', 'ping', 'agent.sock'));
    onTestFinished(() => agentSocket.close());
    const valid = sign(alice, onTarget);
    await expect(agentSocket.decideApproval(valid)).rejects.toMatchObject({ code: 'EOS_UNIMPLEMENTED', cause: { code: 12 } });
    expect((await d.client.listApprovals()).find((a) => a.id === target.id)).toMatchObject({ state: 'pending' });
    await expect(d.client.startAgent('ping')).rejects.toMatchObject({ code: 'EOS_AGENT_QUARANTINED' });

    await expect(d.client.decideApproval(valid)).resolves.toMatchObject({ id: target.id, state: 'approved', decidedBy: 'alice' });
    await expect(d.client.decideApproval(valid)).rejects.toMatchObject({ message: 'decision refused: replayed' });
    await expect(d.client.decideApproval(sign(alice, onTarget))).rejects.toMatchObject({ message: 'decision refused: not-pending' });
    await expect(d.client.startAgent('ping')).resolves.toMatchObject({ state: 'running' });
    await expect(d.client.startAgent('heartbeat')).rejects.toMatchObject({ code: 'EOS_AGENT_QUARANTINED' });

    const rejected = (await records(stateDir)).filter((r) => r.kind === 'approval.decision-rejected');
    expect(rejected.map((r) => r.payload.reason)).toEqual([...attempts.map(([reason]) => reason), 'replayed', 'not-pending']);
    expect(rejected.every((r) => r.payload.source === 'control-socket')).toBe(true);
  });

  it('denies an approval nobody decides in time and refuses a decision after it expired', async () => {
    const dir = await tmpDir();
    const alice = generateApproverKey('alice');
    const d = await startDaemon({
      stateDir: join(dir, 's'),
      approvals: { approvers: [{ id: 'alice', publicKey: alice.publicKey }], timeoutMs: 1_000 },
      agents: [ping],
    });
    await d.client.quarantineAgent('ping', 'test');
    await expect(d.client.startAgent('ping')).rejects.toMatchObject({ code: 'EOS_AGENT_QUARANTINED' });
    const [req] = await d.client.listApprovals();
    if (req === undefined) {
      throw new Error('expected a pending approval');
    }
    await d.out.waitFor((l) => l.msg === 'approval expired; denied' && l.approvalId === req.id);
    expect((await d.client.listApprovals())[0]).toMatchObject({ id: req.id, state: 'expired', challenge: '' });
    const fields = { requestId: req.id, challenge: req.challenge, decision: 'approve' as const, approverKeyId: 'alice', timeMs: Date.now(), reason: '' };
    const late = { ...fields, signature: Buffer.from(signDecision(fields, Buffer.from(alice.secretKey, 'base64'))) };
    await expect(d.client.decideApproval(late)).rejects.toMatchObject({ code: 'EOS_APPROVAL_INVALID', message: 'decision refused: not-pending' });
    await expect(d.client.startAgent('ping')).rejects.toMatchObject({ code: 'EOS_AGENT_QUARANTINED' });
  });
});
