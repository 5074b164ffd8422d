import type { agentV1 } from '@everythingos/proto';
import { decodeSessionResponse, encodeSessionRequest, loadAgentUnaryMethod } from '@everythingos/proto/agent-wire';
import { EosError, isErrorCode, type AgentManifest } from '@everythingos/proto/core';
import type {
  ActOptions,
  ActResult,
  AgentEvent,
  AgentRuntime,
  CredentialGrant,
  EmitOptions,
  EventHandler,
  FetchInit,
  FetchResult,
  LogLevel,
  Priority,
  RecalledMemory,
  SanitizeResult,
  ThinkOptions,
} from '@everythingos/sdk';
import type { AgentClient, ClientStream } from './agent-client.js';
import type { CallSigner } from './call-signer.js';
import type { HostLogger } from './host-log.js';

type Session = ClientStream<agentV1.SessionRequest>;

const SESSION_PATH = '/eos.agent.v1.AgentService/Session';
const decodeFrame = decodeSessionResponse as (bytes: Buffer) => agentV1.SessionResponse__Output;

/** Emits per EmitBatch frame: large enough to amortise gRPC framing, small enough to keep latency low. */
const MAX_EMITS_PER_FRAME = 256;
/** Acts per ActBatch frame; the supervisor appends the ungated ones of a frame in one ledger group commit. */
const MAX_ACTS_PER_FRAME = 256;
/**
 * Queued inbound events above which the session stream is paused (gRPC flow control pushes back),
 * unless the agent awaits a reply (an act result, emit ack or subscribe result): replies travel on the
 * same stream, so pausing then would deadlock a handler that awaits one. Resumed below the low mark.
 */
const INBOUND_HIGH_WATER = 1024;
const INBOUND_LOW_WATER = 256;
/** Deadline of unary calls to the supervisor. */
const UNARY_DEADLINE_MS = 30_000;
/**
 * Deadline of model and egress calls, ms: above the supervisor's own limits (`llm.timeoutMs`, 60 s by
 * default, and the egress guard's total time cap, 30 s), so the supervisor's typed error arrives
 * first instead of an agent-side timeout while the call still runs.
 */
const SLOW_CALL_DEADLINE_MS = 10 * 60_000;

const TO_WIRE: Record<Priority, agentV1.Priority> = {
  critical: 'PRIORITY_CRITICAL',
  high: 'PRIORITY_HIGH',
  normal: 'PRIORITY_NORMAL',
  low: 'PRIORITY_LOW',
};
const FROM_WIRE: Record<string, Priority> = {
  PRIORITY_CRITICAL: 'critical',
  PRIORITY_HIGH: 'high',
  PRIORITY_NORMAL: 'normal',
  PRIORITY_LOW: 'low',
  PRIORITY_UNSPECIFIED: 'normal',
};

interface Pending<T> {
  nonce: number;
  resolve: (value: T) => void;
  reject: (err: Error) => void;
}

function encodeJson(value: unknown, what: string): Buffer {
  let text: string | undefined;
  try {
    text = JSON.stringify(value ?? null);
  } catch (err) {
    throw new EosError('EOS_INVALID_ARGUMENT', `${what} is not JSON-serialisable`, { cause: err });
  }
  return Buffer.from(text ?? 'null');
}

export interface HostRuntimeOptions {
  agentId: string;
  manifest: AgentManifest;
  client: AgentClient;
  signer: CallSigner;
  log: HostLogger;
  /** Called when the supervisor asks the agent to stop. */
  onShutdown: (graceMs: number, reason: string) => void;
  /** Called when the session ends without a shutdown request: the supervisor is gone. */
  onSessionLost: (err: Error | undefined) => void;
}

/**
 * The SDK runtime inside agent-host: every agent call becomes a signed frame on the session
 * stream or a signed unary call on the agent's socket.
 */
export class HostRuntime implements AgentRuntime {
  readonly agentId: string;
  readonly manifest: AgentManifest;
  readonly #client: AgentClient;
  readonly #signer: CallSigner;
  readonly #log: HostLogger;
  readonly #opts: HostRuntimeOptions;
  #session: Session | undefined;
  #outbox: agentV1.Emit[] = [];
  /**
   * Acts not yet sent. An act has no deadline: it may wait for a human approval, which the
   * supervisor answers (approved, or denied on timeout) within `approvals.timeoutMs`; a shorter
   * agent-side deadline would report a failure while the approval could still release the act.
   * Pending acts fail when the session ends.
   */
  #actOutbox: agentV1.ActRequest[] = [];
  #flushScheduled = false;
  #pendingEmits: Pending<void>[] = [];
  #pendingEmitsHead = 0;
  readonly #pendingActs = new Map<number, Pending<ActResult>>();
  readonly #pendingSubscribes = new Map<number, Pending<void> & { channel: string; handler: EventHandler }>();
  readonly #handlers = new Map<string, EventHandler[]>();
  #inbound: agentV1.Event__Output[] = [];
  #inboundHead = 0;
  #draining = false;
  #paused = false;
  #shutdownRequested = false;
  #closed = false;

  constructor(opts: HostRuntimeOptions) {
    this.agentId = opts.agentId;
    this.manifest = opts.manifest;
    this.#client = opts.client;
    this.#signer = opts.signer;
    this.#log = opts.log;
    this.#opts = opts;
  }

  /** Opens the session stream; events, acks and shutdown arrive on it from now on. */
  openSession(): void {
    this.#session = this.#client.stream(SESSION_PATH, encodeSessionRequest, decodeFrame, {
      onMessage: (frame) => this.#onFrame(frame),
      onEnd: (err) => this.#onSessionEnd(err),
    });
  }

  /** Sends the Ready frame: onStart finished. */
  sendReady(): void {
    this.#write({ ready: { auth: this.#signer.sign('Ready', '') } });
  }

  sendHeartbeat(health: unknown): void {
    const body = encodeJson(health, 'health status');
    this.#write({ heartbeat: { auth: this.#signer.sign('Heartbeat', '', body), body } });
  }

  /** Ends the session cleanly after a shutdown. */
  close(): void {
    this.#closed = true;
    this.#flush();
    this.#session?.end();
    // Their results can no longer arrive; the supervisor may still record and deliver them.
    this.#failPendingActs(new EosError('EOS_UNAVAILABLE', 'the session closed before the act was answered; it may still have been recorded and delivered'));
  }

  emit(channel: string, payload: unknown, options: EmitOptions): Promise<void> {
    const body = encodeJson(payload, 'event payload');
    const auth = this.#signer.sign('Emit', channel, body);
    if (this.#actOutbox.length > 0) {
      // Frames keep the order in which the agent called emit() and act().
      this.#flush();
    }
    this.#outbox.push({ auth, channel, priority: TO_WIRE[options.priority ?? 'normal'], body });
    if (this.#outbox.length >= MAX_EMITS_PER_FRAME) {
      // A full frame leaves now, so the supervisor works on it while the agent is still emitting.
      this.#flush();
    } else {
      this.#scheduleFlush();
    }
    return new Promise<void>((resolve, reject) => {
      this.#pendingEmits.push({ nonce: auth.nonce, resolve, reject });
      this.#updateFlow();
    });
  }

  subscribe(channel: string, handler: EventHandler): Promise<void> {
    const auth = this.#signer.sign('Subscribe', channel);
    return new Promise<void>((resolve, reject) => {
      this.#pendingSubscribes.set(auth.nonce, { nonce: auth.nonce, resolve, reject, channel, handler });
      this.#updateFlow();
      this.#write({ subscribe: { auth, channel } });
    });
  }

  act(channel: string, payload: unknown, options: ActOptions): Promise<ActResult> {
    let body: Buffer;
    try {
      body = encodeJson({ payload, reason: options.reason }, 'action payload');
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (this.#session === undefined || this.#closed) {
      return Promise.reject(new EosError(this.#closed ? 'EOS_UNAVAILABLE' : 'EOS_ILLEGAL_STATE', this.#closed ? 'the session with the supervisor ended' : 'the session is not open'));
    }
    const auth = this.#signer.sign('Act', channel, body);
    if (this.#outbox.length > 0) {
      this.#flush();
    }
    this.#actOutbox.push({ auth, channel, priority: TO_WIRE[options.priority ?? 'normal'], body });
    const result = new Promise<ActResult>((resolve, reject) => {
      this.#pendingActs.set(auth.nonce, { nonce: auth.nonce, resolve, reject });
      this.#updateFlow();
    });
    if (this.#actOutbox.length >= MAX_ACTS_PER_FRAME) {
      this.#flush();
    } else {
      this.#scheduleFlush();
    }
    return result;
  }

  async getState(key: string): Promise<unknown> {
    const res = await this.#unary<agentV1.GetStateRequest, agentV1.GetStateResponse__Output>('GetState', {
      auth: this.#signer.sign('GetState', key),
      key,
    });
    return res.found ? (JSON.parse(res.valueJson.toString('utf8')) as unknown) : undefined;
  }

  async setState(key: string, value: unknown): Promise<void> {
    const body = value === undefined ? Buffer.alloc(0) : encodeJson(value, 'state value');
    await this.#unary<agentV1.SetStateRequest, agentV1.SetStateResponse__Output>('SetState', {
      auth: this.#signer.sign('SetState', key, body),
      key,
      body,
    });
  }

  log(level: LogLevel, message: string, fields: Record<string, unknown> | undefined): void {
    let body: Buffer;
    try {
      body = encodeJson({ msg: String(message), fields: fields ?? {} }, 'log fields');
    } catch {
      // Unserialisable fields must not lose the line: keep the message, say why the fields are gone.
      body = Buffer.from(JSON.stringify({ msg: String(message), fields: { fieldsDropped: 'not JSON-serialisable' } }));
    }
    this.#write({ log: { auth: this.#signer.sign('Log', level, body), level, body } });
  }

  async think(prompt: string, options: ThinkOptions): Promise<string> {
    const body = encodeJson({ prompt, options }, 'think request');
    const res = await this.#unary<agentV1.ThinkRequest, agentV1.ThinkResponse__Output>('Think', {
      auth: this.#signer.sign('Think', '', body),
      body,
    }, SLOW_CALL_DEADLINE_MS);
    return res.text;
  }

  async thinkWithUserInput(
    template: string,
    userContent: string,
    options: ThinkOptions,
  ): Promise<{ response: string; sanitized: SanitizeResult }> {
    const body = encodeJson({ template, userContent, options }, 'think request');
    const res = await this.#unary<agentV1.ThinkWithUserInputRequest, agentV1.ThinkWithUserInputResponse__Output>(
      'ThinkWithUserInput',
      { auth: this.#signer.sign('ThinkWithUserInput', '', body), body },
      SLOW_CALL_DEADLINE_MS,
    );
    return { response: res.text, sanitized: JSON.parse(res.sanitizedJson.toString('utf8')) as SanitizeResult };
  }

  async sanitizeInput(text: string): Promise<SanitizeResult> {
    const body = Buffer.from(text, 'utf8');
    const res = await this.#unary<agentV1.SanitizeInputRequest, agentV1.SanitizeInputResponse__Output>(
      'SanitizeInput',
      { auth: this.#signer.sign('SanitizeInput', '', body), body },
    );
    return JSON.parse(res.resultJson.toString('utf8')) as SanitizeResult;
  }

  async fetch(url: string, init: FetchInit): Promise<FetchResult> {
    const body = encodeJson(init, 'fetch options');
    const res = await this.#unary<agentV1.FetchRequest, agentV1.FetchResponse__Output>('Fetch', {
      auth: this.#signer.sign('Fetch', url, body),
      url,
      body,
    }, SLOW_CALL_DEADLINE_MS);
    return {
      status: res.status,
      headers: JSON.parse(res.headersJson.toString('utf8') || '{}') as Record<string, string>,
      body: res.body.toString('utf8'),
      injectionDetected: res.injectionDetected,
      injectionCategories: res.injectionCategories,
      unscanned: res.unscanned,
    };
  }

  async remember(content: string, tags: string[]): Promise<string> {
    const body = encodeJson({ content, tags }, 'memory');
    const res = await this.#unary<agentV1.RememberRequest, agentV1.RememberResponse__Output>('Remember', {
      auth: this.#signer.sign('Remember', '', body),
      body,
    });
    return res.memoryId;
  }

  async requestCredential(secret: string, host: string, ttlMs: number | undefined): Promise<CredentialGrant> {
    const body = encodeJson({ host, ttlMs }, 'credential request');
    const res = await this.#unary<agentV1.RequestCredentialRequest, agentV1.RequestCredentialResponse__Output>('RequestCredential', {
      auth: this.#signer.sign('RequestCredential', secret, body),
      secret,
      body,
    });
    return { credentialId: res.credentialId, expiresAtMs: res.expiresAtMs };
  }

  async recall(query: string, limit: number): Promise<RecalledMemory[]> {
    const body = encodeJson({ query, limit }, 'recall query');
    const res = await this.#unary<agentV1.RecallRequest, agentV1.RecallResponse__Output>('Recall', {
      auth: this.#signer.sign('Recall', '', body),
      body,
    });
    return JSON.parse(res.itemsJson.toString('utf8')) as RecalledMemory[];
  }

  /** A unary call by proto method name (`GetState`), signed by the caller, under a deadline. */
  async #unary<Req, Res>(method: string, req: Req, deadlineMs = UNARY_DEADLINE_MS): Promise<Res> {
    const codec = await loadAgentUnaryMethod(method);
    return this.#client.unary(codec.path, req, codec.serialize as (m: Req) => Buffer, codec.deserialize as (b: Buffer) => Res, deadlineMs);
  }

  #write(frame: agentV1.SessionRequest): void {
    if (this.#session === undefined) {
      throw new EosError('EOS_ILLEGAL_STATE', 'the session is not open');
    }
    this.#flush();
    this.#session.write(frame);
  }

  /** After the current synchronous run of emits and acts: one frame for all of them, no timer hop. */
  #scheduleFlush(): void {
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /** Sends queued emits and acts. At most one of the two queues is non-empty (each flushes the other first). */
  #flush(): void {
    this.#flushScheduled = false;
    const session = this.#session;
    if (session === undefined) {
      return;
    }
    while (this.#outbox.length > 0) {
      const batch = this.#outbox.length <= MAX_EMITS_PER_FRAME ? this.#outbox : this.#outbox.slice(0, MAX_EMITS_PER_FRAME);
      this.#outbox = this.#outbox.length <= MAX_EMITS_PER_FRAME ? [] : this.#outbox.slice(MAX_EMITS_PER_FRAME);
      session.write({ emits: { emits: batch } });
    }
    while (this.#actOutbox.length > 0) {
      const batch = this.#actOutbox.length <= MAX_ACTS_PER_FRAME ? this.#actOutbox : this.#actOutbox.slice(0, MAX_ACTS_PER_FRAME);
      this.#actOutbox = this.#actOutbox.length <= MAX_ACTS_PER_FRAME ? [] : this.#actOutbox.slice(MAX_ACTS_PER_FRAME);
      session.write({ acts: { acts: batch } });
    }
  }

  #onFrame(frame: agentV1.SessionResponse__Output): void {
    switch (frame.frame) {
      case 'events':
        this.#onEvents(frame.events?.events ?? []);
        break;
      case 'acks':
        if (frame.acks) {
          this.#onAcks(frame.acks);
        }
        break;
      case 'subscribed':
        if (frame.subscribed) {
          this.#onSubscribed(frame.subscribed);
        }
        break;
      case 'actResults':
        for (const r of frame.actResults?.results ?? []) {
          this.#onActResult(r);
        }
        break;
      case 'shutdown':
        this.#shutdownRequested = true;
        this.#opts.onShutdown(frame.shutdown?.graceMs ?? 0, frame.shutdown?.reason ?? '');
        break;
      case undefined:
        this.#log('warn', {}, 'empty session frame ignored');
        break;
    }
  }

  #onAcks(acks: agentV1.EmitAcks__Output): void {
    // Most ack frames reject nothing: no map for them.
    const rejected = acks.rejected.length === 0 ? undefined : new Map<number, agentV1.ErrorInfo__Output>();
    for (const r of acks.rejected) {
      rejected?.set(r.nonce, r.error ?? { code: 'EOS_INTERNAL', message: 'rejected' });
    }
    const pending = this.#pendingEmits;
    while (this.#pendingEmitsHead < pending.length) {
      const p = pending[this.#pendingEmitsHead];
      if (p === undefined || p.nonce > acks.throughNonce) {
        break;
      }
      this.#pendingEmitsHead++;
      const error = rejected?.get(p.nonce);
      if (error === undefined) {
        p.resolve();
      } else {
        p.reject(toEosError(error));
      }
    }
    if (this.#pendingEmitsHead > 1024 && this.#pendingEmitsHead * 2 > pending.length) {
      this.#pendingEmits = pending.slice(this.#pendingEmitsHead);
      this.#pendingEmitsHead = 0;
    }
  }

  #onActResult(result: agentV1.ActResult__Output): void {
    const p = this.#pendingActs.get(result.nonce);
    if (p === undefined) {
      this.#log('warn', { nonce: result.nonce }, 'act result for no pending act ignored');
      return;
    }
    this.#pendingActs.delete(result.nonce);
    if (result.error) {
      p.reject(toEosError(result.error));
    } else {
      p.resolve({ eventId: result.eventId });
    }
  }

  #failPendingActs(err: EosError): void {
    for (const p of this.#pendingActs.values()) {
      p.reject(err);
    }
    this.#pendingActs.clear();
    this.#actOutbox = [];
  }

  #onSubscribed(result: agentV1.SubscribeResult__Output): void {
    const p = this.#pendingSubscribes.get(result.nonce);
    if (p === undefined) {
      return;
    }
    this.#pendingSubscribes.delete(result.nonce);
    if (result.error) {
      p.reject(toEosError(result.error));
      return;
    }
    const list = this.#handlers.get(p.channel) ?? [];
    list.push(p.handler);
    this.#handlers.set(p.channel, list);
    p.resolve();
  }

  #onEvents(events: agentV1.Event__Output[]): void {
    for (const e of events) {
      this.#inbound.push(e);
    }
    this.#updateFlow();
    if (!this.#draining) {
      void this.#drain();
    }
  }

  /** Pauses or resumes reading the session: see {@link INBOUND_HIGH_WATER}. */
  #updateFlow(): void {
    const queued = this.#inbound.length - this.#inboundHead;
    const awaitingReply =
      this.#pendingActs.size > 0 || this.#pendingSubscribes.size > 0 || this.#pendingEmitsHead < this.#pendingEmits.length;
    if (this.#paused && (awaitingReply || queued < INBOUND_LOW_WATER)) {
      this.#paused = false;
      this.#session?.resume();
    } else if (!this.#paused && !awaitingReply && queued > INBOUND_HIGH_WATER) {
      this.#paused = true;
      this.#session?.pause();
    }
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    while (this.#inboundHead < this.#inbound.length) {
      const e = this.#inbound[this.#inboundHead++];
      if (e === undefined) {
        break;
      }
      await this.#dispatch(e);
      this.#updateFlow();
    }
    this.#inbound = [];
    this.#inboundHead = 0;
    this.#draining = false;
  }

  async #dispatch(e: agentV1.Event__Output): Promise<void> {
    const handlers = this.#handlers.get(e.channel);
    if (handlers === undefined) {
      return;
    }
    let payload: unknown;
    try {
      payload = JSON.parse(e.body.toString('utf8'));
    } catch (err) {
      this.#log('error', { err, eventId: e.id, channel: e.channel }, 'event payload is not JSON; dropped');
      return;
    }
    const event: AgentEvent = {
      id: e.id,
      channel: e.channel,
      source: e.source,
      priority: FROM_WIRE[e.priority] ?? 'normal',
      timestampMs: e.timestampMs,
      payload,
    };
    for (const handler of handlers) {
      try {
        await handler(event);
      } catch (err) {
        this.#log('error', { err, eventId: e.id, channel: e.channel }, 'event handler failed');
      }
    }
  }

  #onSessionEnd(err: Error | undefined): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    const lost = new EosError('EOS_UNAVAILABLE', 'the session with the supervisor ended', { cause: err });
    for (let i = this.#pendingEmitsHead; i < this.#pendingEmits.length; i++) {
      this.#pendingEmits[i]?.reject(lost);
    }
    this.#pendingEmits = [];
    this.#pendingEmitsHead = 0;
    for (const p of this.#pendingSubscribes.values()) {
      p.reject(lost);
    }
    this.#pendingSubscribes.clear();
    this.#failPendingActs(lost);
    if (!this.#shutdownRequested) {
      this.#opts.onSessionLost(err);
    }
  }
}

function toEosError(info: agentV1.ErrorInfo__Output): EosError {
  return new EosError(isErrorCode(info.code) ? info.code : 'EOS_INTERNAL', info.message);
}
