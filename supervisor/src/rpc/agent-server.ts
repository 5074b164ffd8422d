import { createHash } from 'node:crypto';
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  EosError,
  isEosError,
  loadAgentProto,
  PROTOCOL_VERSION,
  type agentV1,
} from '@everythingos/proto';
import type { BusEvent, PriorityLevel } from '../bus/bus-event.js';
import type { EventBus, SubscriberHandle } from '../bus/event-bus.js';
import type { StateStore } from '../state/state-store.js';
import type { AuthCounters } from './auth-counters.js';
import type { AuthFailureReason, CallVerifier } from './call-verifier.js';
import { unary } from './unary.js';

type SessionStream = ServerDuplexStream<agentV1.SessionRequest__Output, agentV1.SessionResponse>;

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
      Hello: unary(log, 'Hello', (req: agentV1.HelloRequest__Output) => this.#hello(req)),
      Session: (call: SessionStream) => this.#session(call),
      Act: unary(log, 'Act', (req: agentV1.ActRequest__Output) => this.#act(req)),
      GetState: unary(log, 'GetState', (req: agentV1.GetStateRequest__Output) => this.#getState(req)),
      SetState: unary(log, 'SetState', (req: agentV1.SetStateRequest__Output) => this.#setState(req)),
      Think: unary(log, 'Think', (req: agentV1.ThinkRequest__Output) => this.#unimplemented('Think', '', req.auth, req.body)),
      ThinkWithUserInput: unary(log, 'ThinkWithUserInput', (req: agentV1.ThinkWithUserInputRequest__Output) =>
        this.#unimplemented('ThinkWithUserInput', '', req.auth, req.body),
      ),
      SanitizeInput: unary(log, 'SanitizeInput', (req: agentV1.SanitizeInputRequest__Output) =>
        this.#unimplemented('SanitizeInput', '', req.auth, req.body),
      ),
      Fetch: unary(log, 'Fetch', (req: agentV1.FetchRequest__Output) => this.#unimplemented('Fetch', req.url, req.auth, req.body)),
      Remember: unary(log, 'Remember', (req: agentV1.RememberRequest__Output) =>
        this.#unimplemented('Remember', '', req.auth, req.body),
      ),
      Recall: unary(log, 'Recall', (req: agentV1.RecallRequest__Output) => this.#unimplemented('Recall', '', req.auth, req.body)),
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
    const agentId = this.#o.agentId;
    b.subscription = this.#o.bus.attach(agentId, {
      write: (events) => call.write({ events: { events: events.map(toWireEvent) } }),
    });
    call.on('drain', () => b.subscription?.drained());
    call.on('data', (frame: agentV1.SessionRequest__Output) => {
      if (this.#binding !== b) {
        return;
      }
      try {
        this.#onFrame(b, call, frame);
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

  #onFrame(b: ProcessBinding, call: SessionStream, frame: agentV1.SessionRequest__Output): void {
    switch (frame.frame) {
      case 'emits':
        this.#onEmits(b, call, frame.emits?.emits ?? []);
        break;
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
            this.#o.log.warn({ channel: s.channel, action: 'subscribe', code: err.code }, 'acl denied');
          }
        }
        call.write({ subscribed: { nonce: s.auth?.nonce ?? 0, error } });
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

  #onEmits(b: ProcessBinding, call: SessionStream, emits: agentV1.Emit__Output[]): void {
    const rejected: agentV1.EmitRejection[] = [];
    let through = 0;
    for (const e of emits) {
      const nonce = e.auth?.nonce ?? 0;
      through = Math.max(through, nonce);
      try {
        this.#verify('Emit', e.channel, e.auth, e.body);
        this.#o.bus.publish(this.#o.agentId, e.channel, PRIORITY_LEVEL[e.priority] ?? 1, e.body);
      } catch (err) {
        rejected.push({ nonce, error: errorInfo(err) });
        if (isEosError(err, 'EOS_PERMISSION_DENIED')) {
          this.#o.log.warn({ channel: e.channel, action: 'publish', code: err.code }, 'acl denied');
        } else if (isEosError(err, 'EOS_RATE_LIMITED')) {
          this.#o.log.debug({ channel: e.channel }, 'emit rate limited');
        }
      }
    }
    if (this.#binding === b) {
      call.write({ acks: { throughNonce: through, rejected } });
    }
  }

  #act(req: agentV1.ActRequest__Output): agentV1.ActResponse {
    const b = this.#verify('Act', req.channel, req.auth, req.body);
    this.#requireHello(b, 'Act');
    let parsed: { payload?: unknown; reason?: unknown };
    try {
      parsed = JSON.parse(req.body.toString('utf8')) as { payload?: unknown; reason?: unknown };
    } catch (err) {
      throw new EosError('EOS_INVALID_ARGUMENT', 'action body is not JSON', { cause: err });
    }
    const body = Buffer.from(JSON.stringify(parsed.payload ?? null));
    let event: BusEvent;
    try {
      event = this.#o.bus.publish(this.#o.agentId, req.channel, PRIORITY_LEVEL[req.priority] ?? 1, body);
    } catch (err) {
      if (isEosError(err, 'EOS_PERMISSION_DENIED')) {
        this.#o.log.warn({ channel: req.channel, action: 'act', code: err.code }, 'acl denied');
      }
      throw err;
    }
    this.#o.log.info(
      {
        channel: req.channel,
        eventId: event.id,
        payloadSha256: createHash('sha256').update(body).digest('hex'),
        reason: typeof parsed.reason === 'string' ? parsed.reason : undefined,
      },
      'agent act',
    );
    return { eventId: event.id };
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

  #unimplemented(method: string, channel: string, auth: agentV1.CallAuth__Output | null, body: Buffer): never {
    this.#verify(method, channel, auth, body);
    throw new EosError('EOS_UNIMPLEMENTED', `${method} is not available in this eosd version yet`);
  }
}
