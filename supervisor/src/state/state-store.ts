import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EosError } from '@everythingos/proto';
import { writeFileAtomic } from './atomic-write.js';

/** Longest state key, bytes. */
export const MAX_STATE_KEY_BYTES = 256;
/** Largest single value, bytes of JSON. */
export const MAX_STATE_VALUE_BYTES = 1024 * 1024;
/** Largest whole state of one agent, bytes of JSON. */
export const MAX_STATE_TOTAL_BYTES = 16 * 1024 * 1024;

/**
 * The persisted key/value state of one agent, owned by the supervisor (the agent cannot touch
 * the file). Every change is written atomically before the call returns; changes are serialised.
 */
export class StateStore {
  readonly #file: string;
  #values: Map<string, string> | undefined;
  #totalBytes = 0;
  #tail: Promise<void> = Promise.resolve();

  /** @param dir the agent's supervisor-owned directory. */
  constructor(dir: string) {
    this.#file = join(dir, 'state.json');
  }

  /** The stored JSON text of `key`, or undefined. */
  async get(key: string): Promise<string | undefined> {
    checkKey(key);
    return (await this.#load()).get(key);
  }

  /**
   * Stores `valueJson` under `key`, or deletes the key when `valueJson` is undefined.
   * @throws EosError `EOS_INVALID_ARGUMENT` (bad key or value), `EOS_RESOURCE_EXHAUSTED` (too large).
   */
  set(key: string, valueJson: string | undefined): Promise<void> {
    checkKey(key);
    if (valueJson !== undefined) {
      try {
        JSON.parse(valueJson);
      } catch (err) {
        throw new EosError('EOS_INVALID_ARGUMENT', 'state value is not JSON', { cause: err });
      }
      if (Buffer.byteLength(valueJson) > MAX_STATE_VALUE_BYTES) {
        throw new EosError('EOS_RESOURCE_EXHAUSTED', `state value is larger than ${MAX_STATE_VALUE_BYTES} bytes`);
      }
    }
    const run = this.#tail.then(async () => {
      const values = await this.#load();
      const before = values.get(key);
      const delta = (valueJson === undefined ? 0 : Buffer.byteLength(valueJson)) - (before === undefined ? 0 : Buffer.byteLength(before));
      if (this.#totalBytes + delta > MAX_STATE_TOTAL_BYTES) {
        throw new EosError('EOS_RESOURCE_EXHAUSTED', `agent state would exceed ${MAX_STATE_TOTAL_BYTES} bytes`);
      }
      const next = new Map(values);
      if (valueJson === undefined) {
        next.delete(key);
      } else {
        next.set(key, valueJson);
      }
      await writeFileAtomic(this.#file, serialise(next));
      this.#values = next;
      this.#totalBytes += delta;
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #load(): Promise<Map<string, string>> {
    if (this.#values !== undefined) {
      return this.#values;
    }
    let text: string | undefined;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new EosError('EOS_INTERNAL', `cannot read agent state ${this.#file}`, { cause: err });
      }
    }
    const values = new Map<string, string>();
    if (text !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw new EosError('EOS_INTERNAL', `agent state ${this.#file} is corrupt`, { cause: err });
      }
      for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
        values.set(k, JSON.stringify(v));
      }
    }
    this.#values = values;
    this.#totalBytes = [...values.values()].reduce((n, v) => n + Buffer.byteLength(v), 0);
    return values;
  }
}

function checkKey(key: string): void {
  if (key.length === 0 || Buffer.byteLength(key) > MAX_STATE_KEY_BYTES) {
    throw new EosError('EOS_INVALID_ARGUMENT', `state keys are 1 to ${MAX_STATE_KEY_BYTES} bytes`);
  }
}

function serialise(values: Map<string, string>): string {
  const parts: string[] = [];
  for (const [k, v] of values) {
    parts.push(`${JSON.stringify(k)}:${v}`);
  }
  return `{${parts.join(',')}}\n`;
}
