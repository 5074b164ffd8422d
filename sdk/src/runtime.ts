import type { AgentManifest } from '@everythingos/proto/core';

/** Delivery priority: critical > high > normal > low; FIFO within one priority. */
export type Priority = 'critical' | 'high' | 'normal' | 'low';

/** An event as an agent receives it. */
export interface AgentEvent<T = unknown> {
  /** Unique per daemon run, set by the supervisor. */
  id: string;
  channel: string;
  /** Agent id of the publisher, set by the supervisor (a publisher cannot forge it). */
  source: string;
  priority: Priority;
  /** When the supervisor accepted the event, ms since the epoch. */
  timestampMs: number;
  payload: T;
}

export type EventHandler<T = unknown> = (event: AgentEvent<T>) => void | Promise<void>;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** What `healthCheck()` reports; sent to the supervisor with every heartbeat. */
export interface HealthStatus {
  status: 'healthy' | 'degraded' | 'unhealthy';
  details?: Record<string, unknown>;
}

export interface EmitOptions {
  /** @defaultValue 'normal' */
  priority?: Priority;
}

export interface ActOptions extends EmitOptions {
  /** Why the agent acts; recorded with the action. */
  reason?: string;
}

export interface ActResult {
  /** Id of the event the action was published as. */
  eventId: string;
}

export interface ThinkOptions {
  systemPrompt?: string;
  temperature?: number;
  maxTokens?: number;
}

/** What the supervisor's sanitizer reports for a piece of untrusted text. */
export interface SanitizeResult {
  sanitized: string;
  injectionDetected: boolean;
  categories: string[];
  piiCategories: string[];
  originalHash: string;
}

export interface FetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** A credential granted to this agent; the supervisor injects the secret, the agent never sees it. */
  credentialId?: string;
}

export interface FetchResult {
  status: number;
  headers: Record<string, string>;
  /** The body as received, with any vault secret redacted. Untrusted data. */
  body: string;
  /** The supervisor's sanitizer found prompt-injection patterns in the body. */
  injectionDetected: boolean;
  injectionCategories: string[];
  /** The body was too large or not text, so it was not scanned. */
  unscanned: boolean;
}

/** A credential the agent can pass to `fetch`; the secret stays in the supervisor. */
export interface CredentialGrant {
  credentialId: string;
  /** ms since the epoch. */
  expiresAtMs: number;
}

export interface RecalledMemory {
  id: string;
  content: string;
  trust: string;
}

/**
 * The calls an agent makes, implemented by agent-host over the agent's socket (or by the
 * testing harness in-process). Authors never implement or call this directly.
 * @internal
 */
export interface AgentRuntime {
  readonly agentId: string;
  readonly manifest: AgentManifest;
  emit(channel: string, payload: unknown, options: EmitOptions): Promise<void>;
  subscribe(channel: string, handler: EventHandler): Promise<void>;
  act(channel: string, payload: unknown, options: ActOptions): Promise<ActResult>;
  getState(key: string): Promise<unknown>;
  setState(key: string, value: unknown): Promise<void>;
  log(level: LogLevel, message: string, fields: Record<string, unknown> | undefined): void;
  think(prompt: string, options: ThinkOptions): Promise<string>;
  thinkWithUserInput(
    template: string,
    userContent: string,
    options: ThinkOptions,
  ): Promise<{ response: string; sanitized: SanitizeResult }>;
  sanitizeInput(text: string): Promise<SanitizeResult>;
  fetch(url: string, init: FetchInit): Promise<FetchResult>;
  remember(content: string, tags: string[]): Promise<string>;
  requestCredential(secret: string, host: string, ttlMs: number | undefined): Promise<CredentialGrant>;
  recall(query: string, limit: number): Promise<RecalledMemory[]>;
}

/** The hooks a runtime drives, returned by attaching a runtime to an agent. @internal */
export interface AgentLifecycle {
  start(): Promise<void>;
  stop(): Promise<void>;
  tick(): Promise<void>;
  health(): Promise<HealthStatus>;
}

/**
 * Attaches a runtime to an agent instance. A registered symbol, so agent-host's copy of the SDK
 * and the agent package's copy (which may differ) agree on it.
 * @internal
 */
export const ATTACH_RUNTIME: unique symbol = Symbol.for('everythingos.sdk.attach-runtime.v1') as never;
