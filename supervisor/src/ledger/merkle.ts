import { hash } from 'node:crypto';

/** SHA-256 digest length in bytes. */
export const HASH_BYTES = 32;

const nodeScratch = Buffer.alloc(1 + 2 * HASH_BYTES);
nodeScratch[0] = 0x01;

function sha256(data: Uint8Array): Buffer {
  return hash('sha256', data, 'buffer') as unknown as Buffer;
}

/** RFC 6962 §2.1 leaf hash: SHA-256(0x00 || data). */
export function leafHash(data: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(data.length + 1);
  buf[0] = 0x00;
  buf.set(data, 1);
  return sha256(buf);
}

/**
 * A record line as written (its UTF-8 bytes and a newline) and its leaf hash, from one buffer: the
 * line is encoded once after a 0x00 byte, the hash covers `0x00 || line` and the returned bytes start
 * after that byte. Saves the copy {@link leafHash} makes (the append path of every record).
 */
export function encodeLeafLine(line: string): { bytes: Buffer; leaf: Buffer } {
  const n = Buffer.byteLength(line, 'utf8');
  const buf = Buffer.allocUnsafe(n + 2);
  buf[0] = 0x00;
  buf.write(line, 1, 'utf8');
  buf[n + 1] = 0x0a;
  return { bytes: buf.subarray(1), leaf: sha256(buf.subarray(0, n + 1)) };
}

/** RFC 6962 §2.1 interior node hash: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 1 + HASH_BYTES);
  return sha256(nodeScratch);
}

const latin1Scratch = new Uint8Array(1 + 2 * HASH_BYTES);
latin1Scratch[0] = 0x01;

/** {@link nodeHash} over digests held as 32-character latin1 strings; returns the same form. */
export function nodeHashLatin1(left: string, right: string): string {
  if (left.length !== HASH_BYTES || right.length !== HASH_BYTES) {
    throw new RangeError('node hash inputs must be 32-byte digests');
  }
  // A byte loop beats Buffer#write here: two 32-byte copies do not pay for a call into C++.
  for (let k = 0; k < HASH_BYTES; k++) {
    latin1Scratch[1 + k] = left.charCodeAt(k);
    latin1Scratch[1 + HASH_BYTES + k] = right.charCodeAt(k);
  }
  return hash('sha256', latin1Scratch, 'binary');
}

/** Root of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1). */
export const EMPTY_ROOT: Buffer = sha256(new Uint8Array(0));

/**
 * The right frontier (compact range) of an RFC 6962 tree: O(log n) subtree hashes from which the
 * root of the current size can be computed and to which leaves can be appended.
 */
export class MerkleFrontier {
  #hashes: Buffer[] = [];
  #heights: number[] = [];
  #size = 0;

  /** Restores a frontier previously exported with {@link MerkleFrontier.export}. */
  static restore(size: number, hashes: readonly Buffer[]): MerkleFrontier {
    const f = new MerkleFrontier();
    let rest = size;
    const heights: number[] = [];
    for (let h = 52; h >= 0; h--) {
      const span = 2 ** h;
      if (rest >= span) {
        heights.push(h);
        rest -= span;
      }
    }
    if (heights.length !== hashes.length) {
      throw new RangeError(`frontier of size ${size} needs ${heights.length} hashes, got ${hashes.length}`);
    }
    f.#hashes = hashes.map((b) => Buffer.from(b));
    f.#heights = heights;
    f.#size = size;
    return f;
  }

  /** Number of leaves appended. */
  get size(): number {
    return this.#size;
  }

  /** Appends one leaf hash. */
  push(leaf: Buffer): void {
    this.pushSubtree(leaf, 0);
  }

  /**
   * Appends the root of a perfect subtree of 2^height leaves. The current size must be a multiple
   * of 2^height (true for the nodes of a compact range that starts at the current size).
   */
  pushSubtree(root: Uint8Array, height: number): void {
    if (this.#size % 2 ** height !== 0) {
      throw new RangeError(`subtree of height ${height} does not align at size ${this.#size}`);
    }
    let h = Buffer.from(root.buffer, root.byteOffset, root.byteLength);
    const leaves = 2 ** height;
    while (this.#heights.length > 0 && this.#heights[this.#heights.length - 1] === height) {
      this.#heights.pop();
      h = nodeHash(this.#hashes.pop() as Buffer, h);
      height++;
    }
    this.#hashes.push(h);
    this.#heights.push(height);
    this.#size += leaves;
  }

  /** The RFC 6962 Merkle tree hash of all leaves appended so far. */
  root(): Buffer {
    const n = this.#hashes.length;
    if (n === 0) {
      return EMPTY_ROOT;
    }
    let r = this.#hashes[n - 1] as Buffer;
    for (let i = n - 2; i >= 0; i--) {
      r = nodeHash(this.#hashes[i] as Buffer, r);
    }
    return r;
  }

  /** A copy of the frontier hashes, largest subtree first. */
  export(): Buffer[] {
    return this.#hashes.map((b) => Buffer.from(b));
  }

  /** An independent copy. */
  clone(): MerkleFrontier {
    return MerkleFrontier.restore(this.#size, this.#hashes);
  }
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) {
    k *= 2;
  }
  return k;
}

/** RFC 6962 §2.1 MTH over `leaves[from, to)`. */
export function merkleRoot(leaves: readonly Buffer[], from = 0, to = leaves.length): Buffer {
  const n = to - from;
  if (n === 0) {
    return EMPTY_ROOT;
  }
  if (n === 1) {
    return leaves[from] as Buffer;
  }
  const k = largestPowerOfTwoBelow(n);
  return nodeHash(merkleRoot(leaves, from, from + k), merkleRoot(leaves, from + k, to));
}

/** RFC 6962 §2.1.1 audit path for leaf `index` in the tree over `leaves[0, size)`. */
export function inclusionPath(leaves: readonly Buffer[], index: number, size: number): Buffer[] {
  const path: Buffer[] = [];
  const walk = (m: number, from: number, to: number): void => {
    const n = to - from;
    if (n <= 1) {
      return;
    }
    const k = largestPowerOfTwoBelow(n);
    if (m < k) {
      walk(m, from, from + k);
      path.push(merkleRoot(leaves, from + k, to));
    } else {
      walk(m - k, from + k, to);
      path.push(merkleRoot(leaves, from, from + k));
    }
  };
  walk(index, 0, size);
  return path;
}

/**
 * RFC 9162 §2.1.3.2: whether `path` proves that `leaf` is at `index` in the tree of `size` leaves
 * whose root is `root`.
 */
export function verifyInclusion(
  leaf: Buffer,
  index: number,
  size: number,
  path: readonly Buffer[],
  root: Buffer,
): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
    return false;
  }
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) {
      return false;
    }
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}
