import { EosError, type AgentManifest } from '@everythingos/proto/core';
import {
  ATTACH_RUNTIME,
  type ActOptions,
  type ActResult,
  type AgentLifecycle,
  type AgentRuntime,
  type CredentialGrant,
  type EmitOptions,
  type EventHandler,
  type FetchInit,
  type FetchResult,
  type HealthStatus,
  type LogLevel,
  type RecalledMemory,
  type SanitizeResult,
  type ThinkOptions,
} from './runtime.js';

/**
 * The base class of every EverythingOS agent. Extend it, override the hooks you need and export
 * the class as your package's default export; declare the agent in the `everythingos` field of
 * package.json. eosd constructs it inside the agent's own sandboxed process.
 *
 * ```ts
 * export default class Ping extends Agent {
 *   protected override async onStart() {
 *     await this.subscribe('demo.pong', (e) => this.log('info', 'pong', { n: e.payload }));
 *   }
 *   protected override async onTick() {
 *     await this.emit('demo.ping', { at: Date.now() });
 *   }
 * }
 * ```
 *
 * Every call goes to the supervisor, which authenticates it and checks it against the manifest:
 * a channel the manifest does not declare is refused with `EOS_PERMISSION_DENIED`.
 */
export abstract class Agent {
  #runtime: AgentRuntime | undefined;

  /** The agent id from the manifest. @throws EosError `EOS_ILLEGAL_STATE` before the runtime starts the agent. */
  get id(): string {
    return this.#rt().agentId;
  }

  /** The manifest the supervisor validated for this agent. */
  get manifest(): AgentManifest {
    return this.#rt().manifest;
  }

  /** Runs once after the process connects; subscribe here. The agent is `running` after it resolves. */
  protected async onStart(): Promise<void> {}

  /** Runs once when the supervisor stops the agent, within its stop grace period. */
  protected async onStop(): Promise<void> {}

  /** Runs every `tickRateMs` of the manifest (never overlapping itself); not at all when 0. */
  protected async onTick(): Promise<void> {}

  /** Reported with every heartbeat; override to report `degraded` or `unhealthy`. */
  healthCheck(): HealthStatus | Promise<HealthStatus> {
    return { status: 'healthy' };
  }

  /**
   * Publishes an event on a declared channel; resolves once the supervisor accepted it.
   * @throws EosError `EOS_PERMISSION_DENIED` (undeclared channel), `EOS_RATE_LIMITED`, `EOS_INVALID_ARGUMENT`.
   */
  protected emit(channel: string, payload: unknown, options: EmitOptions = {}): Promise<void> {
    return this.#rt().emit(channel, payload, options);
  }

  /**
   * Receives the events of a declared channel. Handlers run one event at a time, highest priority first.
   * @throws EosError `EOS_PERMISSION_DENIED` when the manifest does not declare the channel in `subscribe`.
   */
  protected subscribe<T = unknown>(channel: string, handler: EventHandler<T>): Promise<void> {
    return this.#rt().subscribe(channel, handler as EventHandler);
  }

  /**
   * A consequential action: published on a declared channel like `emit`, and recorded by the
   * supervisor before it resolves. Acts travel batched on the agent's session and may resolve in any order;
   * one waiting for a human's approval does not hold back the others.
   * @throws EosError `EOS_PERMISSION_DENIED`, `EOS_RATE_LIMITED`, `EOS_INVALID_ARGUMENT`, `EOS_APPROVAL_DENIED`,
   * `EOS_LEDGER_DEGRADED` (the decision ledger failed closed), `EOS_UNAVAILABLE` (the session ended first).
   */
  protected act(channel: string, payload: unknown, options: ActOptions = {}): Promise<ActResult> {
    return this.#rt().act(channel, payload, options);
  }

  /** Reads a value this agent stored with `setState`; `undefined` when absent. Persisted by the supervisor. */
  protected async getState<T = unknown>(key: string): Promise<T | undefined> {
    return (await this.#rt().getState(key)) as T | undefined;
  }

  /**
   * Stores a JSON value durably (the supervisor writes, fsyncs and renames); `undefined` deletes it.
   * @throws EosError `EOS_INVALID_ARGUMENT` (bad key, not JSON), `EOS_RESOURCE_EXHAUSTED` (too large).
   */
  protected setState<T = unknown>(key: string, value: T): Promise<void> {
    return this.#rt().setState(key, value);
  }

  /** Writes a structured log line, attributed to this agent by the supervisor. */
  protected log(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    this.#rt().log(level, message, fields);
  }

  /** Asks the configured model; served by the supervisor's LLM gateway. */
  protected think(prompt: string, options: ThinkOptions = {}): Promise<string> {
    return this.#rt().think(prompt, options);
  }

  /** Sanitizes `userContent`, puts it into `template` at `{userContent}`, then thinks. */
  protected thinkWithUserInput(
    template: string,
    userContent: string,
    options: ThinkOptions = {},
  ): Promise<{ response: string; sanitized: SanitizeResult }> {
    return this.#rt().thinkWithUserInput(template, userContent, options);
  }

  /** Runs the supervisor's sanitizer over untrusted text. */
  protected sanitizeInput(text: string): Promise<SanitizeResult> {
    return this.#rt().sanitizeInput(text);
  }

  /** An HTTP request made by the supervisor's egress guard on the agent's behalf. */
  protected fetch(url: string, init: FetchInit = {}): Promise<FetchResult> {
    return this.#rt().fetch(url, init);
  }

  /**
   * Asks for a credentialId for a vault secret the operator granted this agent for `host`; pass
   * it to {@link fetch}. The secret is injected by the supervisor and never reaches the agent.
   * @throws EosError `EOS_PERMISSION_DENIED` (not granted by the operator), `EOS_NOT_FOUND`.
   */
  protected requestCredential(secret: string, host: string, ttlMs?: number): Promise<CredentialGrant> {
    return this.#rt().requestCredential(secret, host, ttlMs);
  }

  /** Stores a memory with supervisor-assigned provenance. */
  protected remember(content: string, tags: string[] = []): Promise<string> {
    return this.#rt().remember(content, tags);
  }

  /** Recalls memories, sanitized and labelled with their trust. */
  protected recall(query: string, limit = 5): Promise<RecalledMemory[]> {
    return this.#rt().recall(query, limit);
  }

  /** @internal Called once by the runtime that hosts this instance. */
  [ATTACH_RUNTIME](runtime: AgentRuntime): AgentLifecycle {
    if (this.#runtime !== undefined) {
      throw new EosError('EOS_ILLEGAL_STATE', 'this agent instance is already attached to a runtime');
    }
    this.#runtime = runtime;
    return {
      start: () => this.onStart(),
      stop: () => this.onStop(),
      tick: () => this.onTick(),
      health: async () => this.healthCheck(),
    };
  }

  #rt(): AgentRuntime {
    if (this.#runtime === undefined) {
      throw new EosError('EOS_ILLEGAL_STATE', 'the agent is not running yet: call runtime methods from onStart or later, not from the constructor');
    }
    return this.#runtime;
  }
}
