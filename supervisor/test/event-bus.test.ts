import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { BusEvent } from '../src/bus/bus-event.js';
import { EventBus, type DeliverySink } from '../src/bus/event-bus.js';
import { SubscriberQueue } from '../src/bus/subscriber-queue.js';
import { TokenBucket } from '../src/bus/token-bucket.js';

const log = pino({ level: 'silent' });

function bus(opts: Partial<{ queueCapacity: number; now: () => number; global: number }> = {}): EventBus {
  const b = new EventBus({
    queueCapacity: opts.queueCapacity ?? 100,
    globalRateLimit: { eventsPerSec: opts.global ?? 1e6, burst: opts.global ?? 1e6 },
    deadLetterCapacity: 5,
    maxPayloadBytes: 64,
    logger: log,
    ...(opts.now ? { now: opts.now } : {}),
  });
  b.registerAgent('pub', { publish: new Set(['c.a', 'c.b']), subscribe: new Set() }, { eventsPerSec: 1e6, burst: 1e6 });
  return b;
}

function collector(): DeliverySink & { got: BusEvent[]; accept: boolean } {
  const s = {
    got: [] as BusEvent[],
    accept: true,
    write(events: BusEvent[]) {
      s.got.push(...events);
      return s.accept;
    },
  };
  return s;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const body = Buffer.from('{}');

describe('EventBus', () => {
  it('delivers only declared channels and refuses undeclared publish and subscribe', async () => {
    const b = bus();
    b.registerAgent('sub', { publish: new Set(), subscribe: new Set(['c.a']) }, { eventsPerSec: 10, burst: 10 });
    const sink = collector();
    b.attach('sub', sink);
    b.subscribe('sub', 'c.a');
    expect(() => b.subscribe('sub', 'c.b')).toThrow(expect.objectContaining({ code: 'EOS_PERMISSION_DENIED' }));
    expect(() => b.publish('pub', 'c.x', 1, body)).toThrow(expect.objectContaining({ code: 'EOS_PERMISSION_DENIED' }));
    b.publish('pub', 'c.a', 1, body);
    b.publish('pub', 'c.b', 1, body);
    await tick();
    expect(sink.got.map((e) => [e.channel, e.source])).toEqual([['c.a', 'pub']]);
    expect(b.counters()).toMatchObject({ published: 2, delivered: 1, aclDenied: 2 });
  });

  it('re-checks the subscribe ACL at delivery when the manifest changed', async () => {
    const b = bus();
    b.registerAgent('sub', { publish: new Set(), subscribe: new Set(['c.a']) }, { eventsPerSec: 10, burst: 10 });
    const sink = collector();
    b.attach('sub', sink);
    b.subscribe('sub', 'c.a');
    b.registerAgent('sub', { publish: new Set(), subscribe: new Set() }, { eventsPerSec: 10, burst: 10 });
    b.publish('pub', 'c.a', 1, body);
    await tick();
    expect(sink.got).toEqual([]);
    expect(b.deadLetters()).toMatchObject([{ reason: 'acl_denied_at_delivery', target: 'sub' }]);
  });

  it('delivers higher priorities first and keeps FIFO within one', async () => {
    const b = bus();
    b.registerAgent('sub', { publish: new Set(), subscribe: new Set(['c.a']) }, { eventsPerSec: 10, burst: 10 });
    const sink = collector();
    b.attach('sub', sink);
    b.subscribe('sub', 'c.a');
    const ids = [0, 3, 1, 3, 2, 0].map((p) => b.publish('pub', 'c.a', p as 0 | 1 | 2 | 3, body).id);
    await tick();
    expect(sink.got.map((e) => e.id)).toEqual([ids[1], ids[3], ids[4], ids[2], ids[0], ids[5]]);
  });

  it('bounds a slow subscriber and drops by priority without blocking a fast one', async () => {
    const b = bus({ queueCapacity: 3 });
    for (const id of ['slow', 'fast']) {
      b.registerAgent(id, { publish: new Set(), subscribe: new Set(['c.a']) }, { eventsPerSec: 10, burst: 10 });
    }
    const slow = collector();
    slow.accept = false;
    const fast = collector();
    b.attach('slow', slow);
    const fastHandle = b.attach('fast', fast);
    b.subscribe('slow', 'c.a');
    b.subscribe('fast', 'c.a');
    b.publish('pub', 'c.a', 1, body);
    await tick();
    for (let i = 0; i < 5; i++) {
      b.publish('pub', 'c.a', i === 4 ? 3 : 1, body);
      await tick();
    }
    expect(slow.got).toHaveLength(1);
    expect(fast.got).toHaveLength(6);
    expect(b.agentCounters('slow')).toMatchObject({ dropped: 2 });
    expect(b.deadLetters().filter((d) => d.reason === 'queue_full')).toHaveLength(2);
    fastHandle.detach();
  });

  it('rate limits per agent and globally with EOS_RATE_LIMITED', () => {
    let t = 0;
    const b = bus({ now: () => t, global: 3 });
    b.registerAgent('p2', { publish: new Set(['c.a']), subscribe: new Set() }, { eventsPerSec: 2, burst: 2 });
    b.publish('p2', 'c.a', 1, body);
    b.publish('p2', 'c.a', 1, body);
    expect(() => b.publish('p2', 'c.a', 1, body)).toThrow(expect.objectContaining({ code: 'EOS_RATE_LIMITED' }));
    b.publish('pub', 'c.a', 1, body);
    expect(() => b.publish('pub', 'c.a', 1, body)).toThrow(expect.objectContaining({ code: 'EOS_RATE_LIMITED', details: { scope: 'global' } }));
    t = 1_000;
    b.publish('p2', 'c.a', 1, body);
    expect(b.counters().rateLimited).toBe(2);
  });

  it('refuses payloads above the limit', () => {
    expect(() => bus().publish('pub', 'c.a', 1, Buffer.alloc(65))).toThrow(expect.objectContaining({ code: 'EOS_INVALID_ARGUMENT' }));
  });
});

describe('SubscriberQueue', () => {
  const ev = (id: string, priority: 0 | 1 | 2 | 3): BusEvent => ({ id, channel: 'c', source: 's', priority, timestampMs: 0, body });

  it('evicts the oldest lowest-priority event for a more important one and refuses equal or lower ones', () => {
    const q = new SubscriberQueue(2);
    expect(q.push(ev('a', 0))).toBeUndefined();
    expect(q.push(ev('b', 1))).toBeUndefined();
    expect(q.push(ev('c', 2))?.id).toBe('a');
    expect(q.push(ev('d', 1))?.id).toBe('d');
    expect(q.take(10).map((e) => e.id)).toEqual(['c', 'b']);
  });
});

describe('TokenBucket', () => {
  it('refills at the configured rate up to the burst', () => {
    let t = 0;
    const b = new TokenBucket(10, 5, () => t);
    expect(Array.from({ length: 6 }, () => b.take())).toEqual([true, true, true, true, true, false]);
    t = 100;
    expect(b.take()).toBe(true);
    expect(b.take()).toBe(false);
    t = 10_000;
    expect(Array.from({ length: 6 }, () => b.take()).filter(Boolean)).toHaveLength(5);
  });
});
