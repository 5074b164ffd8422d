import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ApprovalManager } from '../src/approvals/approval-manager.js';
import { generateApproverKey, signDecision } from '../src/approvals/approval-signature.js';
import { EmergencyStop } from '../src/approvals/estop.js';
import { QuarantineManager, shouldQuarantineOnAlarm } from '../src/approvals/quarantine-manager.js';
import { JsonlRecordSink } from '../src/approvals/record-sink.js';

const log = pino({ level: 'silent' });
const alice = generateApproverKey('alice');

async function setup() {
  const dir = await mkdtemp('/tmp/eosd-safety-');
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const sink = new JsonlRecordSink(join(dir, 'ledger.jsonl'));
  const approvals = (): ApprovalManager => {
    const m = new ApprovalManager({ approvers: [{ id: 'alice', publicKey: alice.publicKey }], timeoutMs: 60_000, freshnessMs: 60_000, sink, log });
    onTestFinished(() => m.close('done'));
    return m;
  };
  return { dir, sink, approvals };
}

async function approve(m: ApprovalManager, id: string, challenge: string): Promise<void> {
  const f = { requestId: id, challenge, decision: 'approve' as const, approverKeyId: 'alice', timeMs: Date.now(), reason: '' };
  await m.decide({ ...f, signature: signDecision(f, Buffer.from(alice.secretKey, 'base64')) }, 'test');
}

describe('EmergencyStop', () => {
  it('kills all, blocks starts across reopen, and clears only with a signed approval', async () => {
    const { dir, sink, approvals } = await setup();
    const file = join(dir, 'estop.json');
    const kills: string[] = [];
    const opts = { file, sink, log, killAll: (r: string) => (kills.push(r), Promise.resolve(3)) };
    const first = await EmergencyStop.open({ ...opts, approvals: approvals() });
    expect(first.isActive).toBe(false);
    await expect(first.engage('runaway')).resolves.toBe(3);
    expect(kills).toEqual(['emergency stop: runaway']);
    expect(() => first.assertInactive('a')).toThrow(expect.objectContaining({ code: 'EOS_ESTOP_ACTIVE' }));
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const m = approvals();
    const second = await EmergencyStop.open({ ...opts, approvals: m });
    expect(second.state).toMatchObject({ active: true, reason: 'runaway' });
    const req = await second.requestClear();
    expect(req).toBeDefined();
    expect(await second.requestClear()).toMatchObject({ id: req?.id });
    await approve(m, req?.id ?? '', req?.challenge ?? '');
    expect(second.isActive).toBe(false);
    const third = await EmergencyStop.open({ ...opts, approvals: approvals() });
    expect(third.isActive).toBe(false);
    expect(await third.requestClear()).toBeUndefined();
    expect((await sink.all()).map((r) => r.kind)).toEqual(['estop.engaged', 'approval.requested', 'approval.decided', 'estop.cleared']);
  });

  it('treats a corrupt state file as engaged (fail closed)', async () => {
    const { dir, sink, approvals } = await setup();
    const file = join(dir, 'estop.json');
    await writeFile(file, '{"v":1,"active":fal');
    const e = await EmergencyStop.open({ file, sink, log, approvals: approvals(), killAll: () => Promise.resolve(0) });
    expect(e.isActive).toBe(true);
  });
});

describe('QuarantineManager', () => {
  it('stops, snapshots state and audit records, revokes credentials, persists, and releases only by approval', async () => {
    const { dir, sink, approvals } = await setup();
    const stateDir = join(dir, 'agents', 'rogue');
    await mkdir(stateDir, { recursive: true });
    await writeFile(join(stateDir, 'state.json'), '{"k":"v"}');
    await sink.record('agent.act', 'rogue', { channel: 'x.y' }, { durable: true });
    await sink.record('agent.act', 'someone-else', { channel: 'x.y' }, { durable: true });
    const calls: string[] = [];
    const m = approvals();
    const opts = {
      dir: join(dir, 'quarantine'),
      sink,
      recent: sink,
      log,
      stopAgent: (id: string) => (calls.push(`stop ${id}`), Promise.resolve()),
      stateDirOf: (id: string) => join(dir, 'agents', id),
      revokeCredentials: (id: string) => (calls.push(`revoke ${id}`), Promise.resolve()),
      kernelAlarmPolicy: 'high' as const,
    };
    const q = await QuarantineManager.open({ ...opts, approvals: m });
    const snap = await q.quarantine('rogue', 'exfiltration attempt', 'operator');
    expect(calls).toEqual(['stop rogue', 'revoke rogue']);
    expect(await readFile(join(snap, 'state', 'state.json'), 'utf8')).toBe('{"k":"v"}');
    const audit = JSON.parse(await readFile(join(snap, 'audit.json'), 'utf8')) as { agentId: string }[];
    expect(audit.map((r) => r.agentId)).toEqual(['rogue']);
    await expect(q.quarantine('rogue', 'again', 'operator')).rejects.toMatchObject({ code: 'EOS_ILLEGAL_STATE' });

    const m2 = approvals();
    const reopened = await QuarantineManager.open({ ...opts, approvals: m2 });
    expect(() => reopened.assertNotQuarantined('rogue')).toThrow(expect.objectContaining({ code: 'EOS_AGENT_QUARANTINED' }));
    const err = (await reopened.requireRelease('rogue').catch((e: unknown) => e)) as { code: string; details: { approvalId: string } };
    expect(err.code).toBe('EOS_AGENT_QUARANTINED');
    const again = (await reopened.requireRelease('rogue').catch((e: unknown) => e)) as { details: { approvalId: string } };
    expect(again.details.approvalId).toBe(err.details.approvalId);
    const view = m2.findPending('quarantine-release', 'rogue');
    await approve(m2, view?.id ?? '', view?.challenge ?? '');
    expect(reopened.isQuarantined('rogue')).toBe(false);
    await expect(reopened.requireRelease('rogue')).resolves.toBeUndefined();
    const third = await QuarantineManager.open({ ...opts, approvals: approvals() });
    expect(third.record('rogue')).toMatchObject({ active: false, releaseApprovalId: view?.id });
  });

  it('quarantines on a kernel alarm per policy', async () => {
    expect(shouldQuarantineOnAlarm('high', 'high')).toBe(true);
    expect(shouldQuarantineOnAlarm('high', 'medium')).toBe(false);
    expect(shouldQuarantineOnAlarm('medium-and-high', 'medium')).toBe(true);
    expect(shouldQuarantineOnAlarm('none', 'high')).toBe(false);
    expect(shouldQuarantineOnAlarm('all', 'low')).toBe(true);
    const { dir, sink, approvals } = await setup();
    const q = await QuarantineManager.open({
      dir: join(dir, 'q'),
      approvals: approvals(),
      sink,
      recent: sink,
      log,
      stopAgent: () => Promise.resolve(),
      stateDirOf: (id) => join(dir, 'none', id),
      revokeCredentials: () => Promise.resolve(),
      kernelAlarmPolicy: 'high',
    });
    await expect(q.onKernelAlarm('low-agent', 'low', 'ptrace')).resolves.toBe(false);
    await expect(q.onKernelAlarm('high-agent', 'high', 'ptrace')).resolves.toBe(true);
    expect(q.record('high-agent')).toMatchObject({ active: true, triggeredBy: 'kernel-alarm', reason: 'kernel alarm: ptrace' });
  });
});
