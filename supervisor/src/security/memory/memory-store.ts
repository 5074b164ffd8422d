import { createHash, randomUUID } from 'node:crypto';
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EosError } from '@everythingos/proto';

/** Longest memory, characters. */
export const MAX_MEMORY_CHARS = 16 * 1024;
/** Memories kept per agent; the oldest are forgotten first. */
export const MAX_MEMORIES_PER_AGENT = 10_000;
/** Trust of what an agent writes itself. */
const AGENT_WRITTEN_TRUST = 0.5;
/** Trust of a memory whose content trips the injection detector. */
const SUSPECT_TRUST = 0.1;
/** Relevance above which a recall counts as a near-perfect match for the breadth heuristic. */
const BREADTH_RELEVANCE = 0.95;
/**
 * An entry that matches almost perfectly for more than this many distinct queries is a poisoning
 * suspect (a planted memory written to surface everywhere); the seed used the same cut-off.
 */
const BREADTH_LIMIT = 12;

/** The sanitizer's verdict as the memory store needs it. */
export interface MemorySanitizer {
  (text: string): { sanitized: string; injectionDetected: boolean; categories: string[] };
}

/** One stored memory. Trust and provenance are set by the supervisor, never by the caller. */
export interface MemoryEntry {
  id: string;
  content: string;
  tags: string[];
  /** Who wrote it and how: `agent:<id>` today. */
  provenance: string;
  /** 0..1, assigned by the supervisor. */
  trust: number;
  flagged: boolean;
  flagReasons: string[];
  createdAtMs: number;
}

/** What an agent gets back: sanitized content labelled as data with its trust. */
export interface RecalledMemory {
  id: string;
  content: string;
  trust: 'low' | 'medium' | 'high';
  provenance: string;
}

function words(text: string): Set<string> {
  return new Set(text.toLowerCase().normalize('NFKC').split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 1));
}

function trustLabel(t: number): RecalledMemory['trust'] {
  return t >= 0.7 ? 'high' : t >= 0.4 ? 'medium' : 'low';
}

interface AgentMemory {
  entries: MemoryEntry[];
  /** Entry id → distinct queries it matched near-perfectly. */
  breadth: Map<string, Set<string>>;
}

/**
 * Per-agent long-term memory served by the supervisor: provenance and trust are the
 * supervisor's, content that looks like an injection is stored with low trust and flagged,
 * entries that surface for too many unrelated queries are flagged as poisoning suspects, and
 * everything recalled goes through the sanitizer and is labelled as data.
 */
export class MemoryStore {
  readonly #dirFor: (agentId: string) => string;
  readonly #sanitize: MemorySanitizer;
  readonly #now: () => number;
  readonly #agents = new Map<string, Promise<AgentMemory>>();

  constructor(opts: { dirFor: (agentId: string) => string; sanitize: MemorySanitizer; now?: () => number }) {
    this.#dirFor = opts.dirFor;
    this.#sanitize = opts.sanitize;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Stores `content` for `agentId`.
   * @throws EosError `EOS_INVALID_ARGUMENT` for empty or oversized content or bad tags.
   */
  async remember(agentId: string, content: string, tags: string[]): Promise<MemoryEntry> {
    if (content.length === 0 || content.length > MAX_MEMORY_CHARS) {
      throw new EosError('EOS_INVALID_ARGUMENT', `memories are 1 to ${MAX_MEMORY_CHARS} characters`);
    }
    if (tags.length > 16 || tags.some((t) => typeof t !== 'string' || t.length === 0 || t.length > 64)) {
      throw new EosError('EOS_INVALID_ARGUMENT', 'at most 16 tags of 1 to 64 characters');
    }
    const mem = await this.#load(agentId);
    const verdict = this.#sanitize(content);
    const entry: MemoryEntry = {
      id: randomUUID(),
      content,
      tags,
      provenance: `agent:${agentId}`,
      trust: verdict.injectionDetected ? SUSPECT_TRUST : AGENT_WRITTEN_TRUST,
      flagged: verdict.injectionDetected,
      flagReasons: verdict.injectionDetected ? verdict.categories.map((c) => `injection:${c}`) : [],
      createdAtMs: this.#now(),
    };
    mem.entries.push(entry);
    if (mem.entries.length > MAX_MEMORIES_PER_AGENT) {
      const gone = mem.entries.splice(0, mem.entries.length - MAX_MEMORIES_PER_AGENT);
      for (const g of gone) {
        mem.breadth.delete(g.id);
      }
    }
    await appendFile(this.#file(agentId), `${JSON.stringify({ op: 'add', entry })}\n`, { mode: 0o600 });
    return entry;
  }

  /** The best `limit` unflagged memories for `query`, ranked by relevance × trust, sanitized. */
  async recall(agentId: string, query: string, limit: number): Promise<RecalledMemory[]> {
    const n = Math.max(1, Math.min(50, Math.floor(limit)));
    const mem = await this.#load(agentId);
    const q = words(query);
    if (q.size === 0) {
      return [];
    }
    const queryKey = createHash('sha256').update([...q].sort().join(' ')).digest('hex');
    const scored: { e: MemoryEntry; score: number }[] = [];
    for (const e of mem.entries) {
      if (e.flagged) {
        continue;
      }
      const w = words(e.content);
      let hits = 0;
      for (const t of q) {
        if (w.has(t)) {
          hits++;
        }
      }
      const relevance = hits / q.size;
      if (relevance === 0) {
        continue;
      }
      if (relevance >= BREADTH_RELEVANCE) {
        let seen = mem.breadth.get(e.id);
        if (seen === undefined) {
          seen = new Set();
          mem.breadth.set(e.id, seen);
        }
        seen.add(queryKey);
        if (seen.size > BREADTH_LIMIT) {
          await this.#flag(agentId, e, 'breadth');
          continue;
        }
      }
      scored.push({ e, score: relevance * e.trust });
    }
    scored.sort((a, b) => b.score - a.score);
    return scored.slice(0, n).map(({ e }) => {
      const s = this.#sanitize(e.content);
      return { id: e.id, content: s.sanitized, trust: trustLabel(s.injectionDetected ? SUSPECT_TRUST : e.trust), provenance: e.provenance };
    });
  }

  /** Every entry of an agent, flagged ones included (operator inspection). */
  async list(agentId: string): Promise<readonly MemoryEntry[]> {
    return [...(await this.#load(agentId)).entries];
  }

  async #flag(agentId: string, e: MemoryEntry, reason: string): Promise<void> {
    e.flagged = true;
    e.trust = Math.min(e.trust, 0.05);
    e.flagReasons.push(reason);
    await appendFile(this.#file(agentId), `${JSON.stringify({ op: 'flag', id: e.id, reason })}\n`, { mode: 0o600 });
  }

  #file(agentId: string): string {
    return join(this.#dirFor(agentId), 'memory.jsonl');
  }

  #load(agentId: string): Promise<AgentMemory> {
    let p = this.#agents.get(agentId);
    if (p === undefined) {
      p = this.#read(agentId);
      this.#agents.set(agentId, p);
    }
    return p;
  }

  async #read(agentId: string): Promise<AgentMemory> {
    const mem: AgentMemory = { entries: [], breadth: new Map() };
    let text = '';
    try {
      text = await readFile(this.#file(agentId), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw err;
      }
    }
    const byId = new Map<string, MemoryEntry>();
    for (const line of text.split('\n')) {
      if (line === '') {
        continue;
      }
      let rec: { op?: unknown; entry?: MemoryEntry; id?: string; reason?: string };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        // A torn last line after a crash: everything before it is intact, skip it.
        continue;
      }
      if (rec.op === 'add' && rec.entry !== undefined && rec.entry.provenance === `agent:${agentId}`) {
        byId.set(rec.entry.id, rec.entry);
        mem.entries.push(rec.entry);
      } else if (rec.op === 'flag' && rec.id !== undefined) {
        const e = byId.get(rec.id);
        if (e !== undefined) {
          e.flagged = true;
          e.trust = Math.min(e.trust, 0.05);
          e.flagReasons.push(rec.reason ?? 'flagged');
        }
      }
    }
    mem.entries = mem.entries.slice(-MAX_MEMORIES_PER_AGENT);
    return mem;
  }
}
