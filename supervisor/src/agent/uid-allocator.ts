import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EosError } from '@everythingos/proto';
import { writeFileAtomic } from '../state/atomic-write.js';

/**
 * Hands each agent its own uid (gid = uid) from a configured range, and keeps the assignment
 * stable across restarts in `<stateDir>/uids.json`, so an agent's home keeps its owner.
 */
export class UidAllocator {
  readonly #file: string;
  readonly #start: number;
  readonly #count: number;
  #map: Record<string, number> = {};

  private constructor(stateDir: string, start: number, count: number) {
    this.#file = join(stateDir, 'uids.json');
    this.#start = start;
    this.#count = count;
  }

  static async open(stateDir: string, range: { start: number; count: number }): Promise<UidAllocator> {
    const a = new UidAllocator(stateDir, range.start, range.count);
    try {
      a.#map = JSON.parse(await readFile(a.#file, 'utf8')) as Record<string, number>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new EosError('EOS_CONFIG_INVALID', `cannot read ${a.#file}`, { cause: err });
      }
    }
    return a;
  }

  /**
   * The uid of `agentId`, assigning the lowest free one in range on first use.
   * @throws EosError `EOS_RESOURCE_EXHAUSTED` when the range is used up.
   */
  async uidFor(agentId: string): Promise<number> {
    const known = this.#map[agentId];
    if (known !== undefined && known >= this.#start && known < this.#start + this.#count) {
      return known;
    }
    const used = new Set(Object.values(this.#map));
    for (let uid = this.#start; uid < this.#start + this.#count; uid++) {
      if (!used.has(uid)) {
        this.#map = { ...this.#map, [agentId]: uid };
        await writeFileAtomic(this.#file, `${JSON.stringify(this.#map, null, 2)}\n`);
        return uid;
      }
    }
    throw new EosError('EOS_RESOURCE_EXHAUSTED', `no free uid in ${this.#start}..${this.#start + this.#count - 1}; widen uidRange`);
  }
}
