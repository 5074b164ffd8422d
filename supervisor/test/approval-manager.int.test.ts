import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ApprovalManager, MAX_PENDING_PER_AGENT, type SignedDecision } from '../src/approvals/approval-manager.js';
import { generateApproverKey, signDecision, type DecisionFields } from '../src/approvals/approval-signature.js';
import { JsonlRecordSink } from '../src/approvals/record-sink.js';

const log = pino({ level: 'silent' });
const alice = generateApproverKey('alice');
const mallory = generateApproverKey('mallory');

async function setup(opts: { timeoutMs?: number; freshnessMs?: number } = {}) {
  const dir = await mkdtemp('/tmp/eosd-apr-');
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const sink = new JsonlRecordSink(join(dir, 'ledger.jsonl'));
  const m = new ApprovalManager({
    approvers: [{ id: alice.id, publicKey: alice.publicKey }],
    timeoutMs: opts.timeoutMs ?? 60_000,
    freshnessMs: opts.freshnessMs ?? 60_000,
    sink,
    log,
  });
  onTestFinished(() => m.close('test done'));
  return { m, sink };
}

function sign(f: Omit<DecisionFields, 'approverKeyId' | 'timeMs' | 'reason'> & Partial<DecisionFields>, key = alice): SignedDecision {
  const fields: DecisionFields = { approverKeyId: key.id, timeMs: Date.now(), reason: '', ...f };
  return { ...fields, signature: signDecision(fields, Buffer.from(key.secretKey, 'base64')) };
}

/** Opens a gated action and returns its outcome promise and the view only the operator sees. */
async function pendingAct(m: ApprovalManager, agentId = 'payments') {
  const outcome = m.gate(agentId, { channel: 'payments.send', payloadSha256: 'ab'.repeat(32) });
  await expect.poll(() => m.findPending('act', agentId)).toBeDefined();
  const view = m.findPending('act', agentId);
  if (view === undefined) {
    throw new Error('no pending approval');
  }
  return { outcome, view };
}

describe('ApprovalManager', () => {
  it('releases a gated action on a valid approval and records request and decision durably', async () => {
    const { m, sink } = await setup();
    const { outcome, view } = await pendingAct(m);
    const decided = await m.decide(sign({ requestId: view.id, challenge: view.challenge, decision: 'approve', reason: 'ok' }), 'test');
    expect(decided).toMatchObject({ state: 'approved', decidedBy: 'alice', reason: 'ok' });
    await expect(outcome).resolves.toBe('approved');
    const kinds = (await sink.all()).map((r) => r.kind);
    expect(kinds).toEqual(['approval.requested', 'approval.decided']);
    expect(JSON.stringify(await sink.all())).not.toContain(view.challenge);
  });

  it('rejects a signed denial as denied', async () => {
    const { m } = await setup();
    const { outcome, view } = await pendingAct(m);
    await m.decide(sign({ requestId: view.id, challenge: view.challenge, decision: 'deny', reason: 'no' }), 'test');
    await expect(outcome).resolves.toBe('denied');
  });

  it('refuses and audits every forgery; the action stays pending until a real decision', async () => {
    const { m, sink } = await setup({ freshnessMs: 5_000 });
    const { outcome, view } = await pendingAct(m);
    const other = await pendingAct(m, 'other-agent');
    const good = { requestId: view.id, challenge: view.challenge, decision: 'approve' as const };
    const zeroSig = { ...good, approverKeyId: 'alice', timeMs: Date.now(), reason: '', signature: new Uint8Array(64) };
    const forOther = sign({ requestId: other.view.id, challenge: other.view.challenge, decision: 'approve' });
    const cases: [string, SignedDecision][] = [
      ['bad-signature', zeroSig],
      ['unregistered-key', sign(good, mallory)],
      ['unregistered-key', { ...sign(good, mallory), approverKeyId: 'mallory' }],
      ['bad-signature', { ...sign(good, mallory), approverKeyId: 'alice' }],
      ['bad-signature', { ...forOther, requestId: view.id, challenge: view.challenge }],
      ['challenge-mismatch', sign({ ...good, challenge: other.view.challenge })],
      ['stale', sign({ ...good, timeMs: Date.now() - 60_000 })],
      ['stale', sign({ ...good, timeMs: Date.now() + 60_000 })],
      ['unknown-request', sign({ ...good, requestId: 'apr-ffffffffffffffffffffffff' })],
      ['malformed', { ...sign(good), decision: 'maybe' as 'approve' }],
    ];
    for (const [reason, d] of cases) {
      await expect(m.decide(d, 'test'), reason).rejects.toMatchObject({ code: 'EOS_APPROVAL_INVALID', details: { reason } });
    }
    expect(m.findPending('act', 'payments')).toBeDefined();
    const real = sign(good);
    await m.decide(real, 'test');
    await expect(outcome).resolves.toBe('approved');
    await expect(m.decide(real, 'test')).rejects.toMatchObject({ details: { reason: 'replayed' } });
    const fresh = sign({ ...good, decision: 'deny', reason: 'changed my mind' });
    await expect(m.decide(fresh, 'test')).rejects.toMatchObject({ details: { reason: 'not-pending' } });
    const rejected = (await sink.all()).filter((r) => r.kind === 'approval.decision-rejected').map((r) => (r.payload as { reason: string }).reason);
    expect(rejected).toEqual([...cases.map(([r]) => r), 'replayed', 'not-pending']);
  });

  it('denies on timeout and refuses a late decision', async () => {
    const { m, sink } = await setup({ timeoutMs: 200 });
    const { outcome, view } = await pendingAct(m);
    await expect(outcome).resolves.toBe('denied');
    await expect(m.decide(sign({ requestId: view.id, challenge: view.challenge, decision: 'approve' }), 'test')).rejects.toMatchObject({
      details: { reason: 'not-pending' },
    });
    await expect.poll(async () => (await sink.all()).map((r) => r.kind)).toContain('approval.expired');
    expect(m.list()[0]).toMatchObject({ id: view.id, state: 'expired' });
  });

  it('lets only one of two concurrent valid decisions win', async () => {
    const { m } = await setup();
    const { outcome, view } = await pendingAct(m);
    const a = m.decide(sign({ requestId: view.id, challenge: view.challenge, decision: 'approve' }), 'a');
    const b = m.decide(sign({ requestId: view.id, challenge: view.challenge, decision: 'deny', reason: 'x' }), 'b');
    const results = await Promise.allSettled([a, b]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    await expect(outcome).resolves.toBe('approved');
  });

  it('fails closed: a request that cannot be recorded is denied, as are requests past the per-agent cap', async () => {
    const dir = await mkdtemp('/tmp/eosd-apr-');
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const broken = new JsonlRecordSink(join(dir, 'missing-dir', 'ledger.jsonl'));
    const m = new ApprovalManager({ approvers: [], timeoutMs: 60_000, freshnessMs: 60_000, sink: broken, log });
    await expect(m.gate('a', { channel: 'x.y' })).resolves.toBe('denied');

    const { m: m2 } = await setup();
    const outcomes = Array.from({ length: MAX_PENDING_PER_AGENT }, () => m2.gate('flood', { channel: 'x.y' }));
    await expect.poll(() => m2.list().length).toBe(MAX_PENDING_PER_AGENT);
    await expect(m2.gate('flood', { channel: 'x.y' })).resolves.toBe('denied');
    await m2.close('test');
    await expect(Promise.all(outcomes)).resolves.toEqual(outcomes.map(() => 'denied'));
  });

  it('runs the approval effect before acknowledging, and denies when it fails', async () => {
    const { m } = await setup();
    let applied = false;
    const ok = await m.open('estop-clear', undefined, 'clear', {}, () => {
      applied = true;
      return Promise.resolve();
    });
    await m.decide(sign({ requestId: ok.view.id, challenge: ok.view.challenge, decision: 'approve' }), 't');
    expect(applied).toBe(true);
    const bad = await m.open('estop-clear', undefined, 'clear', {}, () => Promise.reject(new Error('disk full')));
    await expect(m.decide(sign({ requestId: bad.view.id, challenge: bad.view.challenge, decision: 'approve' }), 't')).rejects.toThrow('disk full');
    await expect(bad.outcome).resolves.toBe('denied');
  });
});
