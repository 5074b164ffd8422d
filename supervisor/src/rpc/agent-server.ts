import { hash } from 'node:crypto';
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  EosError,
  isEosError,
  loadAgentProto,
  MAX_SESSION_FRAME_ENTRIES,
  sessionEntryCount,
  toServiceError,
  PROTOCOL_VERSION,
  type AgentManifest,
  type Capability,
  type agentV1,
} from '@everythingos/proto';
import type { BusEvent, PriorityLevel } from '../bus/bus-event.js';
import type { EventBus, SubscriberHandle } from '../bus/event-bus.js';
import type { AgentSpec } from '../config/schema.js';
import type { SecurityServices } from '../services.js';
import type { StateStore } from '../state/state-store.js';
import type { AuthCounters } from './auth-counters.js';
import type { AuthFailureReason, CallVerifier } from './call-verifier.js';
import { unary, type RpcObserver } from './unary.js';
import type { LlmCaller, ThinkOptions } from '../llm/index.js';

type SessionStream = ServerDuplexStream<agentV1.SessionRequest__Output, agentV1.SessionResponse>;

/** One open session stream and the act results waiting to go out on it. */
interface SessionContext {
  readonly b: ProcessBinding;
  readonly call: SessionStream;
  actResults: agentV1.ActResult[];
  flushScheduled: boolean;
  /** Reading is paused until the stream drains: a write returned false (back-pressure). */
  paused: boolean;
  /** The agent broke the protocol on this session: nothing more it sends is read. */
  violated: boolean;
}

/**
 * Emits or acts per Session frame. More is a protocol violation that ends the session: agent-host
 * sends at most 256, and the cap bounds the work one frame can cost the supervisor (STRIDE D-7);
 * the Session codec builds at most one entry past it and counts the rest.
 */
export { MAX_SESSION_FRAME_ENTRIES };

/** Act results per ActResults frame; a result is about 60 bytes on the wire. */
const MAX_ACT_RESULTS_PER_FRAME = 1024;

const PRIORITY_LEVEL: Record<string, PriorityLevel> = {
  PRIORITY_LOW: 0,
  PRIORITY_NORMAL: 1,
  PRIORITY_UNSPECIFIED: 1,
  PRIORITY_HIGH: 2,
  PRIORITY_CRITICAL: 3,
};
const WIRE_PRIORITY: agentV1.Priority[] = ['PRIORITY_LOW', 'PRIORITY_NORMAL', 'PRIORITY_HIGH', 'PRIORITY_CRITICAL'];
const LOG_LEVELS = new Set(['debug', 'info', 'warn', 'error']);

/** The running agent process this server currently answers; replaced on every (re)start. */
export interface ProcessBinding {
  verifier: CallVerifier;
  /** The process finished onStart. */
  onReady(): void;
  onHeartbeat(health: unknown): void;
  /**
   * The process broke the session protocol (`EOS_PROTOCOL_VIOLATION`); its session has been ended
   * and the violation audited. The owner treats the process as misbehaving (agent-runner kills it).
   */
  onViolation?(err: EosError): void;
  helloDone: boolean;
  session: SessionStream | undefined;
  subscription: SubscriberHandle | undefined;
}

export interface AgentServerOptions {
  agentId: string;
  socketPath: string;
  manifestJson: Buffer;
  entryPath: string;
  tickRateMs: number;
  heartbeatIntervalMs: number;
  bus: EventBus;
  state: StateStore;
  authCounters: AuthCounters;
  /** The validated manifest: capabilities, model, egress. */
  manifest: AgentManifest;
  /** The operator's entry for this agent: tier, allowModel, credentials. */
  spec: Pick<AgentSpec, 'tier' | 'allowModel' | 'credentials'>;
  services: SecurityServices;
  /**
   * Asks a human when this act needs an approval (HIGH tier, gated channels); returns 'approved'
   * synchronously when none is needed, so the decision records of a frame's ungated acts are
   * appended together and share one group commit. The agent waits and never sees the request or
   * its challenge.
   */
  gateAct?: (channel: string, payloadSha256: string) => 'approved' | Promise<'approved' | 'denied'>;
  /**
   * Throws (`EOS_ESTOP_ACTIVE`) while no act may be delivered: checked before an act is recorded
   * and again once its record is durable, right before delivery.
   */
  mayDeliver?: () => void;
  /** Records every unary call and every act (metrics). */
  observe?: RpcObserver;
  /** Logger with `agentId`; agent log frames are re-emitted through `agentLog`. */
  log: Logger;
  agentLog: Logger;
}

function toWireEvent(e: BusEvent): agentV1.Event {
  return { id: e.id, channel: e.channel, source: e.source, priority: WIRE_PRIORITY[e.priority], timestampMs: e.timestampMs, body: e.body };
}

function errorInfo(err: unknown): agentV1.ErrorInfo {
  return isEosError(err) ? { code: err.code, message: err.message } : { code: 'EOS_INTERNAL', message: 'internal error' };
}

/**
 * The gRPC server on one agent's socket. The socket is the agent's identity: every call that
 * arrives here is this agent's, and must carry a valid CallAuth under the session key of the
 * process currently bound.
 */
export class AgentServer {
  readonly #o: AgentServerOptions;
  readonly #server = new Server({ 'grpc.max_receive_message_length': 8 * 1024 * 1024 });
  #binding: ProcessBinding | undefined;

  constructor(opts: AgentServerOptions) {
    this.#o = opts;
    const { eos } = loadAgentProto();
    const log = opts.log;
    const handlers: agentV1.AgentServiceHandlers = {
      Hello: unary(log, 'Hello', (req: agentV1.HelloRequest__Output) => this.#hello(req), opts.observe),
      Session: (call: SessionStream) => this.#session(call),
      GetState: unary(log, 'GetState', (req: agentV1.GetStateRequest__Output) => this.#getState(req), opts.observe),
      SetState: unary(log, 'SetState', (req: agentV1.SetStateRequest__Output) => this.#setState(req), opts.observe),
      Think: unary(log, 'Think', (req: agentV1.ThinkRequest__Output) => this.#think(req), opts.observe),
      ThinkWithUserInput: unary(log, 'ThinkWithUserInput', (req: agentV1.ThinkWithUserInputRequest__Output) => this.#thinkWithUserInput(req), opts.observe),
      SanitizeInput: unary(log, 'SanitizeInput', (req: agentV1.SanitizeInputRequest__Output) => this.#sanitizeInput(req), opts.observe),
      Fetch: unary(log, 'Fetch', (req: agentV1.FetchRequest__Output) => this.#fetch(req), opts.observe),
      Remember: unary(log, 'Remember', (req: agentV1.RememberRequest__Output) => this.#remember(req), opts.observe),
      Recall: unary(log, 'Recall', (req: agentV1.RecallRequest__Output) => this.#recall(req), opts.observe),
      RequestCredential: unary(log, 'RequestCredential', (req: agentV1.RequestCredentialRequest__Output) => this.#requestCredential(req), opts.observe),
    };
    this.#server.addService(eos.agent.v1.AgentService.service, handlers);
  }

  /** Binds the socket. The caller sets its owner and mode afterwards. */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.bindAsync(`unix:${this.#o.socketPath}`, ServerCredentials.createInsecure(), (err) => {
        if (err) {
          reject(new EosError('EOS_AGENT_SPAWN_FAILED', `cannot bind ${this.#o.socketPath}: ${err.message}`, { cause: err }));
        } else {
          resolve();
        }
      });
    });
  }

  /** Serves a new process of this agent from now on; calls signed with older keys fail. */
  bind(binding: Omit<ProcessBinding, 'helloDone' | 'session' | 'subscription'>): void {
    this.unbind();
    this.#binding = { ...binding, helloDone: false, session: undefined, subscription: undefined };
  }

  /** The process ended: drop its session and subscriptions. */
  unbind(): void {
    const b = this.#binding;
    this.#binding = undefined;
    if (b !== undefined) {
      b.subscription?.detach();
      b.session?.end();
    }
  }

  /** Asks the bound process to stop; false when it has no session to ask on. */
  requestShutdown(graceMs: number, reason: string): boolean {
    const session = this.#binding?.session;
    if (session === undefined || session.destroyed) {
      return false;
    }
    session.write({ shutdown: { graceMs, reason } });
    return true;
  }

  close(): Promise<void> {
    this.unbind();
    return new Promise((resolve) => {
      this.#server.tryShutdown(() => resolve());
      setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, 1_000).unref();
    });
  }

  #verify(method: string, channel: string, auth: agentV1.CallAuth__Output | null | undefined, body?: Uint8Array): ProcessBinding {
    const b = this.#binding;
    if (b === undefined) {
      throw new EosError('EOS_UNAVAILABLE', `agent ${this.#o.agentId} has no running process`);
    }
    try {
      b.verifier.verify(method, channel, auth, body);
    } catch (err) {
      const reason = (isEosError(err) ? err.details?.reason : undefined) as AuthFailureReason | undefined;
      if (reason !== undefined) {
        this.#o.authCounters[reason]++;
      }
      this.#o.log.warn({ rpc: method, channel, reason }, 'call authentication failed');
      void this.#o.services.audit('auth.rejected', this.#o.agentId, { method, channel, reason: reason ?? 'unknown' });
      throw err;
    }
    return b;
  }

  #requireHello(b: ProcessBinding, method: string): void {
    if (!b.helloDone) {
      throw new EosError('EOS_ILLEGAL_STATE', `${method} before Hello`);
    }
  }

  #hello(req: agentV1.HelloRequest__Output): agentV1.HelloResponse {
    const b = this.#verify('Hello', '', req.auth);
    if (req.protocolVersion !== PROTOCOL_VERSION) {
      throw new EosError(
        'EOS_PROTOCOL_MISMATCH',
        `agent-host speaks protocol ${req.protocolVersion}; this supervisor speaks ${PROTOCOL_VERSION}; install matching versions`,
      );
    }
    if (b.helloDone) {
      throw new EosError('EOS_ILLEGAL_STATE', 'Hello was already done by this process');
    }
    b.helloDone = true;
    return {
      agentId: this.#o.agentId,
      manifestJson: this.#o.manifestJson,
      entryPath: this.#o.entryPath,
      tickRateMs: this.#o.tickRateMs,
      heartbeatIntervalMs: this.#o.heartbeatIntervalMs,
      protocolVersion: PROTOCOL_VERSION,
    };
  }

  #session(call: SessionStream): void {
    const b = this.#binding;
    if (b === undefined || !b.helloDone || b.session !== undefined) {
      call.destroy(new Error(b?.session ? 'a session is already open' : 'Session before Hello'));
      return;
    }
    b.session = call;
    const ctx: SessionContext = { b, call, actResults: [], flushScheduled: false, paused: false, violated: false };
    const agentId = this.#o.agentId;
    b.subscription = this.#o.bus.attach(agentId, {
      write: (events) => this.#send(ctx, { events: { events: events.map(toWireEvent) } }),
    });
    call.on('drain', () => {
      if (ctx.paused) {
        ctx.paused = false;
        if (!ctx.violated) {
          call.resume();
        }
      }
      b.subscription?.drained();
    });
    call.on('data', (frame: agentV1.SessionRequest__Output) => {
      if (this.#binding !== b || ctx.violated) {
        return;
      }
      try {
        this.#onFrame(ctx, frame);
      } catch (err) {
        this.#o.log.error({ err }, 'session frame failed');
      }
    });
    const end = (): void => {
      if (b.session === call) {
        b.subscription?.detach();
        b.subscription = undefined;
      }
    };
    call.on('end', () => {
      end();
      call.end();
    });
    call.on('error', (err) => {
      this.#o.log.debug({ err }, 'session stream error');
      end();
    });
  }

  /**
   * Writes a reply to the agent. When the stream's buffer is full (`write()` returned false), stops
   * reading the agent's frames until it drains: an agent that does not read its replies cannot
   * make the supervisor buffer more of them.
   */
  #send(ctx: SessionContext, frame: agentV1.SessionResponse): boolean {
    const ok = ctx.call.write(frame);
    if (!ok && !ctx.paused) {
      ctx.paused = true;
      ctx.call.pause();
    }
    return ok;
  }

  /**
   * Checks the shape of an EmitBatch or ActBatch before any entry is verified: at most
   * {@link MAX_SESSION_FRAME_ENTRIES} entries, and no nonce twice (results are keyed by nonce, so a
   * repeated one would answer the agent's genuine call with the replay's error). False after a
   * violation, which has then ended the session.
   */
  #frameAcceptable(ctx: SessionContext, kind: 'emits' | 'acts', entries: readonly { auth?: agentV1.CallAuth__Output | null }[]): boolean {
    const count = sessionEntryCount(entries);
    if (count > MAX_SESSION_FRAME_ENTRIES) {
      this.#violation(ctx, kind, count, 'too_many_entries', `a Session frame carries ${count} ${kind}; the limit is ${MAX_SESSION_FRAME_ENTRIES}`);
      return false;
    }
    const seen = new Set<number>();
    for (const e of entries) {
      const nonce = e.auth?.nonce ?? 0;
      if (nonce === 0) {
        continue; // no CallAuth: refused on its own as EOS_UNAUTHENTICATED
      }
      if (seen.has(nonce)) {
        this.#violation(ctx, kind, entries.length, 'duplicate_nonce', `a Session frame carries nonce ${nonce} twice`);
        return false;
      }
      seen.add(nonce);
    }
    return true;
  }

  /** Ends the session with `EOS_PROTOCOL_VIOLATION`, audits it once, and tells the binding's owner. */
  #violation(ctx: SessionContext, kind: string, entries: number, reason: 'too_many_entries' | 'duplicate_nonce', message: string): void {
    ctx.violated = true;
    ctx.call.pause();
    const err = new EosError('EOS_PROTOCOL_VIOLATION', message, { details: { reason, frame: kind, entries } });
    this.#o.log.error({ code: err.code, reason, frame: kind, entries }, 'session protocol violation; ending the session');
    void this.#o.services.audit('session.protocol_violation', this.#o.agentId, { reason, frame: kind, entries });
    if (ctx.b.session === ctx.call) {
      ctx.b.subscription?.detach();
      ctx.b.subscription = undefined;
    }
    // grpc-js ends a server stream with a status when 'error' is emitted on it.
    ctx.call.emit('error', toServiceError(err));
    ctx.b.onViolation?.(err);
  }

  #onFrame(ctx: SessionContext, frame: agentV1.SessionRequest__Output): void {
    const { b } = ctx;
    switch (frame.frame) {
      case 'emits': {
        const emits = frame.emits?.emits ?? [];
        if (this.#frameAcceptable(ctx, 'emits', emits)) {
          this.#onEmits(ctx, emits);
        }
        break;
      }
      case 'acts': {
        const acts = frame.acts?.acts ?? [];
        if (this.#frameAcceptable(ctx, 'acts', acts)) {
          this.#onActs(ctx, acts);
        }
        break;
      }
      case 'subscribe': {
        const s = frame.subscribe;
        if (s === null || s === undefined) {
          break;
        }
        let error: agentV1.ErrorInfo | undefined;
        try {
          this.#verify('Subscribe', s.channel, s.auth);
          this.#o.bus.subscribe(this.#o.agentId, s.channel);
          this.#o.log.info({ channel: s.channel }, 'agent subscribed');
        } catch (err) {
          error = errorInfo(err);
          if (isEosError(err, 'EOS_PERMISSION_DENIED')) {
            this.#aclDenied('subscribe', s.channel);
          }
        }
        this.#send(ctx, { subscribed: { nonce: s.auth?.nonce ?? 0, error } });
        break;
      }
      case 'log': {
        const l = frame.log;
        if (l === null || l === undefined) {
          break;
        }
        this.#verify('Log', l.level, l.auth, l.body);
        const { msg, fields } = JSON.parse(l.body.toString('utf8')) as { msg: unknown; fields: unknown };
        const level = LOG_LEVELS.has(l.level) ? (l.level as 'debug' | 'info' | 'warn' | 'error') : 'info';
        this.#o.agentLog[level]({ agent: fields }, String(msg));
        break;
      }
      case 'heartbeat': {
        const h = frame.heartbeat;
        if (h === null || h === undefined) {
          break;
        }
        this.#verify('Heartbeat', '', h.auth, h.body);
        b.onHeartbeat(JSON.parse(h.body.toString('utf8')));
        break;
      }
      case 'ready':
        this.#verify('Ready', '', frame.ready?.auth);
        b.onReady();
        break;
      case undefined:
        this.#o.log.warn({}, 'empty session frame ignored');
        break;
    }
  }

  #onEmits(ctx: SessionContext, emits: agentV1.Emit__Output[]): void {
    const rejected: agentV1.EmitRejection[] = [];
    let through = 0;
    for (const e of emits) {
      const nonce = e.auth?.nonce ?? 0;
      through = Math.max(through, nonce);
      try {
        // The token first: an agent past its rate limit is refused without a MAC computed.
        this.#o.bus.admit(this.#o.agentId);
        this.#verify('Emit', e.channel, e.auth, e.body);
        this.#o.bus.publish(this.#o.agentId, e.channel, PRIORITY_LEVEL[e.priority] ?? 1, e.body, true);
      } catch (err) {
        rejected.push({ nonce, error: errorInfo(err) });
        if (isEosError(err, 'EOS_PERMISSION_DENIED')) {
          this.#aclDenied('publish', e.channel);
        } else if (isEosError(err, 'EOS_RATE_LIMITED')) {
          this.#o.log.debug({ channel: e.channel }, 'emit rate limited');
        }
      }
    }
    if (this.#binding === ctx.b) {
      this.#send(ctx, { acks: { throughNonce: through, rejected } });
    }
  }

  /**
   * Runs every act of one ActBatch frame. Each act is checked on its own; the ungated ones reach
   * the decision ledger in this synchronous loop, so one write + fdatasync makes them all durable.
   * Each act's result is queued when its record is durable (or it failed): gated acts answer
   * later, without holding back the others.
   */
  #onActs(ctx: SessionContext, acts: agentV1.ActRequest__Output[]): void {
    const observe = this.#o.observe;
    for (const req of acts) {
      const nonce = req.auth?.nonce ?? 0;
      const t0 = observe === undefined ? 0n : process.hrtime.bigint();
      const done = (result: agentV1.ActResult, code: string): void => {
        observe?.('Act', code, Number(process.hrtime.bigint() - t0) / 1e9);
        this.#queueActResult(ctx, result);
      };
      let outcome: Promise<{ eventId: string; ledgerSeq: number }>;
      try {
        outcome = this.#act(ctx.b, req);
      } catch (err) {
        outcome = Promise.reject(err as Error);
      }
      outcome.then(
        (r) => done({ nonce, eventId: r.eventId, ledgerSeq: r.ledgerSeq }, 'OK'),
        (err: unknown) => {
          if (!isEosError(err)) {
            this.#o.log.error({ err, rpc: 'Act' }, 'act failed');
          }
          done({ nonce, error: errorInfo(err) }, isEosError(err) ? err.code : 'EOS_INTERNAL');
        },
      );
    }
  }

  /** Results that are ready in the same turn leave in one ActResults frame. */
  #queueActResult(ctx: SessionContext, result: agentV1.ActResult): void {
    ctx.actResults.push(result);
    if (ctx.flushScheduled) {
      return;
    }
    ctx.flushScheduled = true;
    setImmediate(() => {
      ctx.flushScheduled = false;
      const results = ctx.actResults;
      ctx.actResults = [];
      // A process that is gone has failed its pending acts itself when its session ended.
      if (this.#binding !== ctx.b || ctx.b.session !== ctx.call || ctx.call.destroyed || !ctx.call.writable) {
        return;
      }
      for (let i = 0; i < results.length; i += MAX_ACT_RESULTS_PER_FRAME) {
        this.#send(ctx, { actResults: { results: results.slice(i, i + MAX_ACT_RESULTS_PER_FRAME) } });
      }
    });
  }

  /**
   * The one implementation of `act()`: rate limit (`bus.admit`), CallAuth, ACL (`bus.prepare`), the
   * approval gate, the emergency stop (`mayDeliver`), then the durable decision record, the
   * emergency stop again, then delivery. Throws synchronously for the checks that need no
   * waiting; an ungated act has its record appended before this returns.
   */
  #act(b: ProcessBinding, req: agentV1.ActRequest__Output): Promise<{ eventId: string; ledgerSeq: number }> {
    // The token first: an agent past its rate limit is refused without a MAC computed. A refused
    // act is answered and nothing else: never recorded, never delivered.
    this.#o.bus.admit(this.#o.agentId);
    this.#verify('Act', req.channel, req.auth, req.body);
    this.#requireHello(b, 'Act');
    const parsed = parseJsonBody<{ payload?: unknown; reason?: unknown }>(req.body, 'action body');
    const body = Buffer.from(JSON.stringify(parsed.payload ?? null));
    let event: BusEvent;
    try {
      event = this.#o.bus.prepare(this.#o.agentId, req.channel, PRIORITY_LEVEL[req.priority] ?? 1, body, true);
    } catch (err) {
      if (isEosError(err, 'EOS_PERMISSION_DENIED')) {
        this.#aclDenied('act', req.channel);
      }
      throw err;
    }
    const payloadSha256 = hash('sha256', body, 'hex');
    const reason = typeof parsed.reason === 'string' ? parsed.reason.slice(0, 1000) : undefined;
    const record = (): Promise<{ eventId: string; ledgerSeq: number }> => {
      this.#o.mayDeliver?.();
      return this.#recordAct(req, event, payloadSha256, reason);
    };
    const gate = this.#o.gateAct?.(req.channel, payloadSha256) ?? 'approved';
    if (gate === 'approved') {
      return record();
    }
    return gate.then((outcome) => {
      if (outcome !== 'approved') {
        throw new EosError('EOS_APPROVAL_DENIED', `the act on ${req.channel} was denied by an approver or timed out waiting for one`);
      }
      // Stopped, quarantined or restarted while it waited: the process that asked is gone.
      if (this.#binding !== b) {
        throw new EosError('EOS_UNAVAILABLE', `the process of agent ${this.#o.agentId} that made this act has ended; the approved act was not recorded or delivered`);
      }
      return record();
    });
  }

  async #recordAct(req: agentV1.ActRequest__Output, event: BusEvent, payloadSha256: string, reason: string | undefined): Promise<{ eventId: string; ledgerSeq: number }> {
    // The action is durable in the decision ledger before anyone can act on it.
    const rec = await this.#o.services.recordDecision('agent.act', this.#o.agentId, {
      channel: req.channel,
      eventId: event.id,
      priority: req.priority,
      payloadSha256,
      ...(reason === undefined ? {} : { reasonSha256: hash('sha256', reason, 'hex') }),
    });
    try {
      // An emergency stop engaged while the record was being made durable: the act stays recorded
      // (it was decided), is marked withheld, and is never delivered.
      this.#o.mayDeliver?.();
    } catch (err) {
      const code = isEosError(err) ? err.code : 'EOS_INTERNAL';
      this.#o.log.warn({ channel: req.channel, eventId: event.id, ledgerSeq: rec.seq, code }, 'recorded act withheld from delivery');
      void this.#o.services.audit('agent.act_withheld', this.#o.agentId, { channel: req.channel, eventId: event.id, ledgerSeq: rec.seq, code });
      throw err;
    }
    this.#o.bus.dispatch(event);
    this.#o.log.debug({ channel: req.channel, eventId: event.id, payloadSha256, ledgerSeq: rec.seq }, 'agent act');
    return { eventId: event.id, ledgerSeq: rec.seq };
  }

  async #getState(req: agentV1.GetStateRequest__Output): Promise<agentV1.GetStateResponse> {
    const b = this.#verify('GetState', req.key, req.auth);
    this.#requireHello(b, 'GetState');
    const value = await this.#o.state.get(req.key);
    return value === undefined ? { found: false } : { found: true, valueJson: Buffer.from(value) };
  }

  async #setState(req: agentV1.SetStateRequest__Output): Promise<agentV1.SetStateResponse> {
    const b = this.#verify('SetState', req.key, req.auth, req.body);
    this.#requireHello(b, 'SetState');
    await this.#o.state.set(req.key, req.body.length === 0 ? undefined : req.body.toString('utf8'));
    return {};
  }

  #requireCapability(b: ProcessBinding, method: string, capability: Capability): void {
    this.#requireHello(b, method);
    if (!this.#o.manifest.capabilities.includes(capability)) {
      void this.#o.services.audit('capability.denied', this.#o.agentId, { method, capability });
      throw new EosError('EOS_PERMISSION_DENIED', `${method} needs the "${capability}" capability in the agent's manifest`);
    }
  }

  #aclDenied(action: string, channel: string): void {
    this.#o.log.warn({ channel, action, code: 'EOS_PERMISSION_DENIED' }, 'acl denied');
    void this.#o.services.audit('acl.denied', this.#o.agentId, { action, channel });
  }

  #caller(): LlmCaller {
    return { agentId: this.#o.agentId, tier: this.#o.spec.tier, model: this.#o.manifest.model, allowModel: this.#o.spec.allowModel };
  }

  async #think(req: agentV1.ThinkRequest__Output): Promise<agentV1.ThinkResponse> {
    const b = this.#verify('Think', '', req.auth, req.body);
    this.#requireCapability(b, 'Think', 'model:call');
    const { prompt, options } = parseJsonBody<{ prompt?: unknown; options?: unknown }>(req.body, 'think request');
    return { text: await this.#o.services.llm.think(this.#caller(), requireString(prompt, 'prompt'), thinkOptions(options)) };
  }

  async #thinkWithUserInput(req: agentV1.ThinkWithUserInputRequest__Output): Promise<agentV1.ThinkWithUserInputResponse> {
    const b = this.#verify('ThinkWithUserInput', '', req.auth, req.body);
    this.#requireCapability(b, 'ThinkWithUserInput', 'model:call');
    const q = parseJsonBody<{ template?: unknown; userContent?: unknown; options?: unknown }>(req.body, 'think request');
    const r = await this.#o.services.llm.thinkWithUserInput(
      this.#caller(),
      requireString(q.template, 'template'),
      requireString(q.userContent, 'userContent'),
      thinkOptions(q.options),
    );
    if (r.sanitized.injectionDetected) {
      void this.#o.services.audit('sanitizer.detected', this.#o.agentId, { method: 'ThinkWithUserInput', categories: r.sanitized.categories, originalHash: r.sanitized.originalHash });
    }
    return { text: r.response, sanitizedJson: Buffer.from(JSON.stringify(publicSanitizeResult(r.sanitized))) };
  }

  async #sanitizeInput(req: agentV1.SanitizeInputRequest__Output): Promise<agentV1.SanitizeInputResponse> {
    const b = this.#verify('SanitizeInput', '', req.auth, req.body);
    this.#requireHello(b, 'SanitizeInput');
    const r = this.#o.services.sanitize(req.body.toString('utf8'));
    if (r.injectionDetected) {
      await this.#o.services.audit('sanitizer.detected', this.#o.agentId, { method: 'SanitizeInput', categories: r.categories, originalHash: r.originalHash, score: r.score });
    }
    return { resultJson: Buffer.from(JSON.stringify(publicSanitizeResult(r))) };
  }

  async #fetch(req: agentV1.FetchRequest__Output): Promise<agentV1.FetchResponse> {
    const b = this.#verify('Fetch', req.url, req.auth, req.body);
    this.#requireCapability(b, 'Fetch', 'network:http');
    const init = parseJsonBody<{ method?: unknown; headers?: unknown; body?: unknown; credentialId?: unknown }>(req.body, 'fetch options');
    const res = await this.#o.services.egress.fetch(this.#o.agentId, {
      url: req.url,
      ...(typeof init.method === 'string' ? { method: init.method.toUpperCase() as 'GET' } : {}),
      ...(init.headers !== undefined && init.headers !== null ? { headers: init.headers as Record<string, string> } : {}),
      ...(typeof init.body === 'string' ? { body: init.body } : {}),
      ...(typeof init.credentialId === 'string' ? { credentialId: init.credentialId } : {}),
    });
    const contentType = String(res.headers['content-type'] ?? '');
    const isText = contentType === '' || /^(text\/|application\/(json|xml|.*\+json|.*\+xml|x-www-form-urlencoded|javascript))/i.test(contentType);
    const scannable = isText && res.body.length <= MAX_SCANNED_FETCH_BYTES;
    const verdict = scannable ? this.#o.services.sanitize(res.body.toString('utf8')) : undefined;
    if (verdict?.injectionDetected) {
      void this.#o.services.audit('sanitizer.detected', this.#o.agentId, { method: 'Fetch', url: req.url.split(/[?#]/, 1)[0] ?? '', categories: verdict.categories, originalHash: verdict.originalHash });
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      headers[k] = typeof v === 'string' ? v : v.join(', ');
    }
    return {
      status: res.status,
      headersJson: Buffer.from(JSON.stringify(headers)),
      body: res.body,
      injectionDetected: verdict?.injectionDetected ?? false,
      injectionCategories: verdict?.categories ?? [],
      unscanned: !scannable,
    };
  }

  async #remember(req: agentV1.RememberRequest__Output): Promise<agentV1.RememberResponse> {
    const b = this.#verify('Remember', '', req.auth, req.body);
    this.#requireCapability(b, 'Remember', 'memory:write');
    const q = parseJsonBody<{ content?: unknown; tags?: unknown }>(req.body, 'memory');
    const tags = Array.isArray(q.tags) ? q.tags.map(String) : [];
    const e = await this.#o.services.memory.remember(this.#o.agentId, requireString(q.content, 'content'), tags);
    if (e.flagged) {
      void this.#o.services.audit('memory.poisoning_suspected', this.#o.agentId, { memoryId: e.id, reasons: e.flagReasons });
    }
    return { memoryId: e.id };
  }

  async #recall(req: agentV1.RecallRequest__Output): Promise<agentV1.RecallResponse> {
    const b = this.#verify('Recall', '', req.auth, req.body);
    this.#requireCapability(b, 'Recall', 'memory:read');
    const q = parseJsonBody<{ query?: unknown; limit?: unknown }>(req.body, 'recall query');
    const items = await this.#o.services.memory.recall(this.#o.agentId, requireString(q.query, 'query'), typeof q.limit === 'number' ? q.limit : 5);
    const safe = items.map((i) => ({ ...i, content: this.#o.services.redactSecrets(i.content) }));
    return { itemsJson: Buffer.from(JSON.stringify(safe)) };
  }

  async #requestCredential(req: agentV1.RequestCredentialRequest__Output): Promise<agentV1.RequestCredentialResponse> {
    const b = this.#verify('RequestCredential', req.secret, req.auth, req.body);
    this.#requireCapability(b, 'RequestCredential', 'secrets:use');
    const q = parseJsonBody<{ host?: unknown; ttlMs?: unknown }>(req.body, 'credential request');
    const host = requireString(q.host, 'host').toLowerCase();
    const grant = this.#o.spec.credentials.find((c) => c.secret === req.secret && c.host.toLowerCase() === host);
    if (grant === undefined) {
      await this.#o.services.audit('vault.request_denied', this.#o.agentId, { secret: req.secret, host });
      throw new EosError('EOS_PERMISSION_DENIED', `the operator has not granted secret ${req.secret} for ${host} to this agent`);
    }
    const ttlMs = Math.min(typeof q.ttlMs === 'number' && q.ttlMs > 0 ? Math.floor(q.ttlMs) : DEFAULT_CREDENTIAL_TTL_MS, MAX_CREDENTIAL_TTL_MS);
    const vault = this.#o.services.vault;
    const issue = (): Promise<string> => vault.grant(this.#o.agentId, req.secret, { host, ttlMs, header: grant.header, valuePrefix: grant.valuePrefix });
    let credentialId: string;
    try {
      credentialId = await issue();
    } catch (err) {
      if (!isEosError(err, 'EOS_NOT_FOUND')) {
        throw err;
      }
      // `eosd secrets set` may have added it since the daemon started: read the vault again once.
      await vault.reload();
      credentialId = await issue();
    }
    return { credentialId, expiresAtMs: Date.now() + ttlMs };
  }
}

/** Fetch bodies larger than this are passed on unscanned (flagged as such): the sanitizer is linear but not free. */
const MAX_SCANNED_FETCH_BYTES = 1024 * 1024;
const DEFAULT_CREDENTIAL_TTL_MS = 15 * 60_000;
const MAX_CREDENTIAL_TTL_MS = 60 * 60_000;

function parseJsonBody<T>(body: Buffer, what: string): T {
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      throw new Error('not an object');
    }
    return v as T;
  } catch (err) {
    throw new EosError('EOS_INVALID_ARGUMENT', `${what} is not a JSON object`, { cause: err });
  }
}

function requireString(v: unknown, name: string): string {
  if (typeof v !== 'string') {
    throw new EosError('EOS_INVALID_ARGUMENT', `${name} must be a string`);
  }
  return v;
}

function thinkOptions(v: unknown): ThinkOptions {
  const o = (v ?? {}) as Record<string, unknown>;
  return {
    ...(typeof o.systemPrompt === 'string' ? { systemPrompt: o.systemPrompt } : {}),
    ...(typeof o.temperature === 'number' ? { temperature: o.temperature } : {}),
    ...(typeof o.maxTokens === 'number' ? { maxTokens: o.maxTokens } : {}),
  };
}

/** The five fields `sanitizeInput()` and `eosd sanitize` promise. */
export function publicSanitizeResult(r: { sanitized: string; injectionDetected: boolean; categories: string[]; piiCategories: string[]; originalHash: string }): Record<string, unknown> {
  return { sanitized: r.sanitized, injectionDetected: r.injectionDetected, categories: r.categories, piiCategories: r.piiCategories, originalHash: r.originalHash };
}
