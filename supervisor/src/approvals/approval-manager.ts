import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { EosError } from '@everythingos/proto';
import { keyFingerprint, verifyDecision, type DecisionFields } from './approval-signature.js';
import type { RecordSink } from './record-sink.js';

/** What an approval request is about. */
export type ApprovalKind = 'act' | 'quarantine-release' | 'estop-clear';
/** Where a request is; only `pending` can change, and only once. */
export type ApprovalState = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled';
/** Why a submitted decision was refused (each one is audited as `approval.decision-rejected`). */
export type DecisionRejectReason =
  | 'malformed'
  | 'unregistered-key'
  | 'bad-signature'
  | 'replayed'
  | 'unknown-request'
  | 'not-pending'
  | 'challenge-mismatch'
  | 'stale';

/** A request as the operator sees it on the control socket. Agents never see this. */
export interface ApprovalView {
  id: string;
  kind: ApprovalKind;
  agentId: string | undefined;
  summary: string;
  challenge: string;
  createdAtMs: number;
  expiresAtMs: number;
  state: ApprovalState;
  decidedBy: string;
  reason: string;
  action: Record<string, unknown>;
}

/** A decision as submitted: the signed fields plus the Ed25519 signature. */
export interface SignedDecision extends DecisionFields {
  signature: Uint8Array;
}

/** A registered approver public key. */
export interface ApproverKey {
  id: string;
  /** Ed25519 public key, base64. */
  publicKey: string;
}

export interface ApprovalManagerOptions {
  approvers: readonly ApproverKey[];
  /** Undecided requests are denied after this, ms. */
  timeoutMs: number;
  /** Largest |now − decision.timeMs| accepted, ms. */
  freshnessMs: number;
  sink: RecordSink;
  log: Logger;
  now?: () => number;
}

/** What runs when a request is approved, before the decision is acknowledged. */
export type ApprovalEffect = () => Promise<void>;

interface Entry {
  view: ApprovalView;
  resolve: (outcome: 'approved' | 'denied') => void;
  outcome: Promise<'approved' | 'denied'>;
  timer: NodeJS.Timeout | undefined;
  onApproved: ApprovalEffect | undefined;
}

/** Pending requests one agent may hold; more are denied at once so an agent cannot flood the operator. */
export const MAX_PENDING_PER_AGENT = 16;
/** Decided requests kept so that late or replayed decisions are recognised as such. */
const DECIDED_RETAINED = 1_000;
/** Accepted signatures remembered for replay detection (a replay is refused anyway: its request is no longer pending). */
const SIGNATURES_RETAINED = 10_000;
const REQUEST_ID = /^apr-[0-9a-f]{24}$/;

/**
 * Human approvals: pending requests with a supervisor-generated challenge, decided only by an
 * Ed25519 signature of a registered approver key over {requestId, challenge, decision,
 * approverKeyId, timeMs, reason}; fresh, single use, recorded durably before they take effect.
 * Timeout = deny. Every refused attempt is recorded too.
 */
export class ApprovalManager {
  readonly #o: ApprovalManagerOptions;
  readonly #now: () => number;
  readonly #keys: Map<string, Uint8Array>;
  readonly #fingerprints: Map<string, string>;
  readonly #pending = new Map<string, Entry>();
  readonly #decided = new Map<string, ApprovalView>();
  readonly #seenSignatures = new Set<string>();
  #closed = false;

  constructor(opts: ApprovalManagerOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    this.#keys = new Map(opts.approvers.map((a) => [a.id, Buffer.from(a.publicKey, 'base64')]));
    this.#fingerprints = new Map(opts.approvers.map((a) => [a.id, keyFingerprint(a.publicKey)]));
  }

  /** Number of registered approver keys. */
  get approverCount(): number {
    return this.#keys.size;
  }

  /**
   * Opens a request and records it durably. `outcome` resolves `approved` or `denied` (also on
   * timeout, shutdown or a failed record); `onApproved` runs before an approval is acknowledged.
   * @throws EosError `EOS_RESOURCE_EXHAUSTED` (too many pending for this agent), `EOS_SHUTTING_DOWN`,
   *   or the sink's error when the request cannot be recorded.
   */
  async open(
    kind: ApprovalKind,
    agentId: string | undefined,
    summary: string,
    action: Record<string, unknown>,
    onApproved?: ApprovalEffect,
  ): Promise<{ view: ApprovalView; outcome: Promise<'approved' | 'denied'> }> {
    if (this.#closed) {
      throw new EosError('EOS_SHUTTING_DOWN', 'the daemon is shutting down');
    }
    if (agentId !== undefined && [...this.#pending.values()].filter((e) => e.view.agentId === agentId).length >= MAX_PENDING_PER_AGENT) {
      throw new EosError('EOS_RESOURCE_EXHAUSTED', `agent ${agentId} already has ${MAX_PENDING_PER_AGENT} pending approvals`);
    }
    const now = this.#now();
    const view: ApprovalView = {
      id: `apr-${randomBytes(12).toString('hex')}`,
      kind,
      agentId,
      summary,
      challenge: randomBytes(32).toString('base64url'),
      createdAtMs: now,
      expiresAtMs: now + this.#o.timeoutMs,
      state: 'pending',
      decidedBy: '',
      reason: '',
      action,
    };
    await this.#o.sink.record('approval.requested', agentId, { requestId: view.id, kind, summary, action, expiresAtMs: view.expiresAtMs }, { durable: true });
    let resolve!: (o: 'approved' | 'denied') => void;
    const outcome = new Promise<'approved' | 'denied'>((r) => (resolve = r));
    const entry: Entry = { view, resolve, outcome, timer: undefined, onApproved };
    entry.timer = setTimeout(() => void this.#expire(view.id), this.#o.timeoutMs);
    entry.timer.unref();
    this.#pending.set(view.id, entry);
    this.#o.log.warn({ approvalId: view.id, kind, agentId, expiresAtMs: view.expiresAtMs }, 'approval requested');
    return { view: { ...view }, outcome };
  }

  /**
   * Holds a gated action until a human decides: resolves `approved` or `denied` (timeout, refusal
   * to record, too many pending and shutdown all deny). The agent learns only the outcome.
   */
  async gate(agentId: string, action: { channel: string; payloadSha256?: string; summary?: string }): Promise<'approved' | 'denied'> {
    let opened: { outcome: Promise<'approved' | 'denied'> };
    try {
      opened = await this.open(
        'act',
        agentId,
        action.summary ?? `agent ${agentId} acts on ${action.channel}`,
        { channel: action.channel, ...(action.payloadSha256 === undefined ? {} : { payloadSha256: action.payloadSha256 }) },
      );
    } catch (err) {
      this.#o.log.error({ err, agentId, channel: action.channel }, 'approval could not be opened; action denied');
      return 'denied';
    }
    return opened.outcome;
  }

  /** The pending request of `kind` for `agentId`, if one is open. */
  findPending(kind: ApprovalKind, agentId: string | undefined): ApprovalView | undefined {
    for (const e of this.#pending.values()) {
      if (e.view.kind === kind && e.view.agentId === agentId) {
        return { ...e.view };
      }
    }
    return undefined;
  }

  /** Pending requests (oldest first), then recently decided ones. */
  list(): ApprovalView[] {
    return [...[...this.#pending.values()].map((e) => ({ ...e.view })), ...[...this.#decided.values()].reverse().map((v) => ({ ...v }))];
  }

  /**
   * Verifies and applies a signed decision: registered key, valid signature, unseen signature,
   * pending request, matching challenge, fresh time. Recorded durably before the effect runs and
   * the waiting action is released.
   * @throws EosError `EOS_APPROVAL_INVALID` (`details.reason` is a {@link DecisionRejectReason}),
   *   or the sink's/effect's error (the request is then denied).
   */
  async decide(d: SignedDecision, source: string): Promise<ApprovalView> {
    const reason = this.#check(d);
    if (reason !== undefined) {
      await this.#reject(d, reason, source);
    }
    const entry = this.#pending.get(d.requestId);
    if (entry === undefined) {
      throw new EosError('EOS_INTERNAL', 'checked request vanished');
    }
    const sigHex = Buffer.from(d.signature).toString('hex');
    this.#rememberSignature(sigHex);
    this.#pending.delete(d.requestId);
    clearTimeout(entry.timer);
    const approved = d.decision === 'approve';
    const fields = {
      requestId: d.requestId,
      kind: entry.view.kind,
      decision: d.decision,
      approverKeyId: d.approverKeyId,
      keyFingerprint: this.#fingerprints.get(d.approverKeyId),
      timeMs: d.timeMs,
      reason: d.reason,
      signature: Buffer.from(d.signature).toString('base64'),
      source,
    };
    try {
      await this.#o.sink.record('approval.decided', entry.view.agentId, fields, { durable: true });
      if (approved && entry.onApproved !== undefined) {
        await entry.onApproved();
      }
    } catch (err) {
      this.#settle(entry, 'denied', '', `approval could not be applied: ${(err as Error).message}`);
      this.#o.log.error({ err, approvalId: d.requestId }, 'approval could not be recorded or applied; denied');
      throw err;
    }
    this.#settle(entry, approved ? 'approved' : 'denied', d.approverKeyId, d.reason);
    this.#o.log.warn({ approvalId: d.requestId, kind: entry.view.kind, agentId: entry.view.agentId, decision: d.decision, approverKeyId: d.approverKeyId }, 'approval decided');
    return { ...entry.view };
  }

  /** Denies every pending request (daemon shutdown). */
  async close(reason: string): Promise<void> {
    this.#closed = true;
    await Promise.all(
      [...this.#pending.values()].map(async (e) => {
        this.#pending.delete(e.view.id);
        clearTimeout(e.timer);
        this.#settle(e, 'cancelled', '', reason);
        await this.#recordBestEffort('approval.cancelled', e.view.agentId, { requestId: e.view.id, kind: e.view.kind, reason });
      }),
    );
  }

  #check(d: SignedDecision): DecisionRejectReason | undefined {
    if (
      !REQUEST_ID.test(d.requestId) ||
      (d.decision !== 'approve' && d.decision !== 'deny') ||
      !Number.isSafeInteger(d.timeMs) ||
      d.signature.length !== 64 ||
      d.reason.length > 1_000
    ) {
      return 'malformed';
    }
    const key = this.#keys.get(d.approverKeyId);
    if (key === undefined) {
      return 'unregistered-key';
    }
    if (!verifyDecision(d, d.signature, key)) {
      return 'bad-signature';
    }
    if (this.#seenSignatures.has(Buffer.from(d.signature).toString('hex'))) {
      return 'replayed';
    }
    const entry = this.#pending.get(d.requestId);
    if (entry === undefined) {
      return this.#decided.has(d.requestId) ? 'not-pending' : 'unknown-request';
    }
    const want = Buffer.from(entry.view.challenge);
    const got = Buffer.from(d.challenge);
    if (want.length !== got.length || !timingSafeEqual(want, got)) {
      return 'challenge-mismatch';
    }
    if (Math.abs(this.#now() - d.timeMs) > this.#o.freshnessMs) {
      return 'stale';
    }
    return undefined;
  }

  async #reject(d: SignedDecision, reason: DecisionRejectReason, source: string): Promise<never> {
    const agentId = this.#pending.get(d.requestId)?.view.agentId ?? this.#decided.get(d.requestId)?.agentId;
    const payload = {
      requestId: d.requestId.slice(0, 64),
      approverKeyId: d.approverKeyId.slice(0, 64),
      decision: d.decision.slice(0, 16),
      timeMs: d.timeMs,
      reason,
      source,
      signatureSha256: createHash('sha256').update(d.signature).digest('hex'),
    };
    this.#o.log.warn(payload, 'approval decision rejected');
    await this.#recordBestEffort('approval.decision-rejected', agentId, payload);
    throw new EosError('EOS_APPROVAL_INVALID', `decision refused: ${reason}`, { details: { reason, requestId: payload.requestId } });
  }

  async #expire(id: string): Promise<void> {
    const entry = this.#pending.get(id);
    if (entry === undefined) {
      return;
    }
    this.#pending.delete(id);
    this.#settle(entry, 'expired', '', 'timed out');
    this.#o.log.warn({ approvalId: id, kind: entry.view.kind, agentId: entry.view.agentId }, 'approval expired; denied');
    await this.#recordBestEffort('approval.expired', entry.view.agentId, { requestId: id, kind: entry.view.kind });
  }

  #settle(entry: Entry, state: Exclude<ApprovalState, 'pending'>, by: string, reason: string): void {
    entry.view.state = state;
    entry.view.decidedBy = by;
    entry.view.reason = reason;
    this.#decided.set(entry.view.id, { ...entry.view });
    if (this.#decided.size > DECIDED_RETAINED) {
      const oldest = this.#decided.keys().next().value;
      if (oldest !== undefined) {
        this.#decided.delete(oldest);
      }
    }
    entry.resolve(state === 'approved' ? 'approved' : 'denied');
  }

  #rememberSignature(sigHex: string): void {
    this.#seenSignatures.add(sigHex);
    if (this.#seenSignatures.size > SIGNATURES_RETAINED) {
      const oldest = this.#seenSignatures.values().next().value;
      if (oldest !== undefined) {
        this.#seenSignatures.delete(oldest);
      }
    }
  }

  async #recordBestEffort(kind: string, agentId: string | undefined, payload: object): Promise<void> {
    try {
      await this.#o.sink.record(kind, agentId, payload, { durable: true });
    } catch (err) {
      this.#o.log.error({ err, kind }, 'could not record an approval event');
    }
  }
}
