import type { Logger } from 'pino';
import { EosError } from '@everythingos/proto';
import type { BusEvent, PriorityLevel } from './bus-event.js';
import { SubscriberQueue } from './subscriber-queue.js';
import { TokenBucket } from './token-bucket.js';

/** Where a subscriber's events go: the agent's session stream. */
export interface DeliverySink {
  /** Writes one batch; false means "buffer full": stop until {@link SubscriberHandle.drained}. */
  write(events: BusEvent[]): boolean;
}

export interface SubscriberHandle {
  /** The sink can take more events again. */
  drained(): void;
  /** The session ended: forget its subscriptions and dead-letter what was queued. */
  detach(): void;
}

export interface AgentAcl {
  publish: ReadonlySet<string>;
  subscribe: ReadonlySet<string>;
}

export interface RateLimitConfig {
  eventsPerSec: number;
  burst: number;
}

export type DeadLetterReason = 'queue_full' | 'acl_denied_at_delivery' | 'subscriber_gone';

/** A record of an event that was accepted but not delivered to one of its subscribers. */
export interface DeadLetter {
  eventId: string;
  channel: string;
  source: string;
  /** The subscriber that did not get it. */
  target: string;
  reason: DeadLetterReason;
  atMs: number;
}

export interface BusCounters {
  published: number;
  delivered: number;
  dropped: number;
  rateLimited: number;
  aclDenied: number;
  deadLetters: number;
}

export interface EventBusOptions {
  queueCapacity: number;
  globalRateLimit: RateLimitConfig;
  deadLetterCapacity: number;
  maxPayloadBytes: number;
  logger: Logger;
  now?: () => number;
}

/** Events per delivery frame. */
const MAX_DELIVERY_BATCH = 256;

interface AgentEntry {
  id: string;
  acl: AgentAcl;
  bucket: TokenBucket;
  counters: BusCounters;
  subscriber: Subscriber | undefined;
}

interface Subscriber {
  agent: AgentEntry;
  sink: DeliverySink;
  queue: SubscriberQueue;
  channels: Set<string>;
  blocked: boolean;
  scheduled: boolean;
  detached: boolean;
}

function zeroCounters(): BusCounters {
  return { published: 0, delivered: 0, dropped: 0, rateLimited: 0, aclDenied: 0, deadLetters: 0 };
}

/**
 * The supervisor's event bus. Exact channel names, publish and subscribe ACLs from each agent's
 * manifest (checked at publish and again at delivery), four priorities, per-agent and global
 * rate limits, and a bounded queue per subscriber so a slow one never holds up the others.
 */
export class EventBus {
  readonly #opts: EventBusOptions;
  readonly #now: () => number;
  readonly #agents = new Map<string, AgentEntry>();
  readonly #channels = new Map<string, Set<Subscriber>>();
  readonly #global: TokenBucket;
  readonly #totals = zeroCounters();
  readonly #deadLetters: DeadLetter[] = [];
  #deadLetterNext = 0;
  readonly #idPrefix: string;
  #nextId = 0;

  constructor(opts: EventBusOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#global = new TokenBucket(opts.globalRateLimit.eventsPerSec, opts.globalRateLimit.burst, this.#now);
    this.#idPrefix = `${this.#now().toString(36)}-`;
  }

  /** Declares an agent and its ACL (from the manifest the supervisor read). Replaces a previous declaration. */
  registerAgent(id: string, acl: AgentAcl, rate: RateLimitConfig): void {
    const prev = this.#agents.get(id);
    const entry: AgentEntry = {
      id,
      acl,
      bucket: new TokenBucket(rate.eventsPerSec, rate.burst, this.#now),
      counters: prev?.counters ?? zeroCounters(),
      subscriber: prev?.subscriber,
    };
    if (entry.subscriber) {
      entry.subscriber.agent = entry;
    }
    this.#agents.set(id, entry);
  }

  /** Forgets an agent entirely (removed from config). */
  unregisterAgent(id: string): void {
    const sub = this.#agents.get(id)?.subscriber;
    if (sub !== undefined) {
      this.#detach(sub);
    }
    this.#agents.delete(id);
  }

  /** Connects an agent's session as the destination of its subscriptions. */
  attach(agentId: string, sink: DeliverySink): SubscriberHandle {
    const agent = this.#requireAgent(agentId);
    if (agent.subscriber !== undefined) {
      this.#detach(agent.subscriber);
    }
    const sub: Subscriber = {
      agent,
      sink,
      queue: new SubscriberQueue(this.#opts.queueCapacity),
      channels: new Set(),
      blocked: false,
      scheduled: false,
      detached: false,
    };
    agent.subscriber = sub;
    return {
      drained: () => {
        sub.blocked = false;
        this.#schedule(sub);
      },
      detach: () => this.#detach(sub),
    };
  }

  /**
   * Subscribes the agent's attached session to `channel`.
   * @throws EosError `EOS_PERMISSION_DENIED` when the manifest does not declare it; `EOS_ILLEGAL_STATE` without a session.
   */
  subscribe(agentId: string, channel: string): void {
    const agent = this.#requireAgent(agentId);
    if (!agent.acl.subscribe.has(channel)) {
      agent.counters.aclDenied++;
      this.#totals.aclDenied++;
      throw new EosError('EOS_PERMISSION_DENIED', `agent ${agentId} may not subscribe to "${channel}": not declared in its manifest`, {
        details: { agentId, channel, action: 'subscribe' },
      });
    }
    const sub = agent.subscriber;
    if (sub === undefined || sub.detached) {
      throw new EosError('EOS_ILLEGAL_STATE', `agent ${agentId} has no open session`);
    }
    sub.channels.add(channel);
    let set = this.#channels.get(channel);
    if (set === undefined) {
      set = new Set();
      this.#channels.set(channel, set);
    }
    set.add(sub);
  }

  /**
   * Accepts an event from `agentId` and queues it for every subscriber of the channel.
   * @throws EosError `EOS_PERMISSION_DENIED` (undeclared channel), `EOS_INVALID_ARGUMENT` (payload
   *   too large), `EOS_RATE_LIMITED` (agent or global limit).
   */
  publish(agentId: string, channel: string, priority: PriorityLevel, body: Buffer, admitted = false): BusEvent {
    const event = this.prepare(agentId, channel, priority, body, admitted);
    this.dispatch(event);
    return event;
  }

  /**
   * Runs every check of {@link publish} and takes the rate-limit token, but delivers nothing yet:
   * for actions that must be recorded durably before anyone can act on them.
   * @param admitted the token was already taken by {@link admit}; none is taken here.
   * @throws EosError as {@link publish}.
   */
  prepare(agentId: string, channel: string, priority: PriorityLevel, body: Buffer, admitted = false): BusEvent {
    const agent = this.#requireAgent(agentId);
    if (!agent.acl.publish.has(channel)) {
      agent.counters.aclDenied++;
      this.#totals.aclDenied++;
      throw new EosError('EOS_PERMISSION_DENIED', `agent ${agentId} may not publish to "${channel}": not declared in its manifest`, {
        details: { agentId, channel, action: 'publish' },
      });
    }
    if (body.length > this.#opts.maxPayloadBytes) {
      throw new EosError('EOS_INVALID_ARGUMENT', `payload is ${body.length} bytes; the limit is ${this.#opts.maxPayloadBytes}`);
    }
    if (!admitted) {
      this.#takeToken(agentId, agent);
    }
    return {
      id: this.#idPrefix + (++this.#nextId).toString(36),
      channel,
      source: agentId,
      priority,
      timestampMs: this.#now(),
      body,
    };
  }

  /**
   * Takes the rate-limit token of one publish before anything else is checked, for callers whose
   * other checks cost more than the refusal (the session's per-entry MAC): whatever the entry's
   * fate, it has cost the agent a token. Pass `admitted` to {@link publish} or {@link prepare}
   * afterwards so that no second token is taken.
   * @throws EosError `EOS_RATE_LIMITED` (agent or global limit).
   */
  admit(agentId: string): void {
    this.#takeToken(agentId, this.#requireAgent(agentId));
  }

  #takeToken(agentId: string, agent: AgentEntry): void {
    if (!agent.bucket.take()) {
      agent.counters.rateLimited++;
      this.#totals.rateLimited++;
      throw new EosError('EOS_RATE_LIMITED', `agent ${agentId} exceeded its publish rate limit`, { details: { scope: 'agent' } });
    }
    if (!this.#global.take()) {
      agent.bucket.refund();
      agent.counters.rateLimited++;
      this.#totals.rateLimited++;
      throw new EosError('EOS_RATE_LIMITED', 'the daemon-wide publish rate limit is exceeded', { details: { scope: 'global' } });
    }
  }

  /** Queues a prepared event for every subscriber of its channel (subscribe ACL re-checked). */
  dispatch(event: BusEvent): void {
    const agent = this.#agents.get(event.source);
    if (agent !== undefined) {
      agent.counters.published++;
    }
    this.#totals.published++;
    const subs = this.#channels.get(event.channel);
    if (subs !== undefined) {
      for (const sub of subs) {
        this.#enqueue(sub, event);
      }
    }
  }

  /** Totals since start. */
  counters(): Readonly<BusCounters> {
    return { ...this.#totals };
  }

  /** Counters of one agent (as publisher and as subscriber). */
  agentCounters(agentId: string): Readonly<BusCounters> | undefined {
    const c = this.#agents.get(agentId)?.counters;
    return c === undefined ? undefined : { ...c };
  }

  /** The most recent dead letters, oldest first. */
  deadLetters(): readonly DeadLetter[] {
    const ring = this.#deadLetters;
    return [...ring.slice(this.#deadLetterNext), ...ring.slice(0, this.#deadLetterNext)];
  }

  #enqueue(sub: Subscriber, event: BusEvent): void {
    if (!sub.agent.acl.subscribe.has(event.channel)) {
      sub.agent.counters.aclDenied++;
      this.#totals.aclDenied++;
      this.#deadLetter(sub, event, 'acl_denied_at_delivery');
      return;
    }
    const lost = sub.queue.push(event);
    if (lost !== undefined) {
      sub.agent.counters.dropped++;
      this.#totals.dropped++;
      this.#deadLetter(sub, lost, 'queue_full');
    }
    this.#schedule(sub);
  }

  #schedule(sub: Subscriber): void {
    if (!sub.scheduled && !sub.blocked && !sub.detached && sub.queue.size > 0) {
      sub.scheduled = true;
      // After the publisher's frame is processed (all its events batch together), before any I/O.
      queueMicrotask(() => this.#pump(sub));
    }
  }

  #pump(sub: Subscriber): void {
    sub.scheduled = false;
    while (!sub.blocked && !sub.detached && sub.queue.size > 0) {
      const batch = sub.queue.take(MAX_DELIVERY_BATCH);
      sub.agent.counters.delivered += batch.length;
      this.#totals.delivered += batch.length;
      if (!sub.sink.write(batch)) {
        sub.blocked = true;
      }
    }
  }

  #detach(sub: Subscriber): void {
    if (sub.detached) {
      return;
    }
    sub.detached = true;
    for (const channel of sub.channels) {
      const set = this.#channels.get(channel);
      set?.delete(sub);
      if (set?.size === 0) {
        this.#channels.delete(channel);
      }
    }
    for (const e of sub.queue.drain()) {
      this.#deadLetter(sub, e, 'subscriber_gone');
    }
    if (sub.agent.subscriber === sub) {
      sub.agent.subscriber = undefined;
    }
  }

  #deadLetter(sub: Subscriber, e: BusEvent, reason: DeadLetterReason): void {
    this.#totals.deadLetters++;
    const cap = this.#opts.deadLetterCapacity;
    if (cap > 0) {
      const record = { eventId: e.id, channel: e.channel, source: e.source, target: sub.agent.id, reason, atMs: this.#now() };
      if (this.#deadLetters.length < cap) {
        this.#deadLetters.push(record);
      } else {
        this.#deadLetters[this.#deadLetterNext] = record;
        this.#deadLetterNext = (this.#deadLetterNext + 1) % cap;
      }
    }
    this.#opts.logger.debug({ eventId: e.id, channel: e.channel, source: e.source, target: sub.agent.id, reason }, 'event dead-lettered');
  }

  #requireAgent(agentId: string): AgentEntry {
    const agent = this.#agents.get(agentId);
    if (agent === undefined) {
      throw new EosError('EOS_NOT_FOUND', `agent ${agentId} is not registered with the bus`);
    }
    return agent;
  }
}
