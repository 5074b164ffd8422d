/**
 * @module security/memory
 *
 * Per-agent long-term memory behind `Remember`/`Recall`: supervisor-assigned provenance and
 * trust, poisoning heuristics, sanitized recall labelled as data.
 */
export { MemoryStore, MAX_MEMORY_CHARS, MAX_MEMORIES_PER_AGENT } from './memory-store.js';
export type { MemoryEntry, MemorySanitizer, RecalledMemory } from './memory-store.js';
