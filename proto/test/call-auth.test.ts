import { createHash, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { computeCallMac } from '../src/call-auth.js';

/** The MAC exactly as the contract defines it, with Node's own HMAC. */
function reference(key: Buffer, method: string, channel: string, nonce: number, ts: number, body?: Uint8Array): Buffer {
  const digest = createHash('sha256')
    .update(body ?? Buffer.alloc(0))
    .digest('hex');
  return createHmac('sha256', key).update(`eos.agent.v1\n${method}\n${channel}\n${nonce}\n${ts}\n${digest}`).digest();
}

describe('computeCallMac (one-shot HMAC with cached pads)', () => {
  it('equals createHmac for keys shorter than, equal to and longer than the block', () => {
    for (const len of [1, 16, 32, 63, 64, 65, 200]) {
      const key = randomBytes(len);
      for (let nonce = 1; nonce < 20; nonce++) {
        const body = randomBytes(nonce * 7);
        expect(computeCallMac(key, 'Emit', 'demo.ping', nonce, 1_700_000_000_000 + nonce, body)).toEqual(
          reference(key, 'Emit', 'demo.ping', nonce, 1_700_000_000_000 + nonce, body),
        );
      }
    }
  });

  it('equals createHmac for empty and missing bodies, long and non-ASCII channels', () => {
    const key = randomBytes(32);
    const long = `https://example.test/${'ü€𝄞'.repeat(2_000)}`;
    expect(computeCallMac(key, 'Ready', '', 1, 5, undefined)).toEqual(reference(key, 'Ready', '', 1, 5));
    expect(computeCallMac(key, 'Ready', '', 1, 5, new Uint8Array(0))).toEqual(reference(key, 'Ready', '', 1, 5));
    expect(computeCallMac(key, 'Fetch', long, 2, 6, Buffer.from('{}'))).toEqual(reference(key, 'Fetch', long, 2, 6, Buffer.from('{}')));
    // A short one after the scratch buffer grew still hashes only its own bytes.
    expect(computeCallMac(key, 'Emit', 'c', 3, 7, Buffer.from('x'))).toEqual(reference(key, 'Emit', 'c', 3, 7, Buffer.from('x')));
  });

  it('keeps keys apart: the cached pads of one key never sign for another', () => {
    const a = Buffer.alloc(32, 1);
    const b = Buffer.alloc(32, 2);
    const macA = computeCallMac(a, 'Emit', 'c', 1, 1, Buffer.from('x'));
    const macB = computeCallMac(b, 'Emit', 'c', 1, 1, Buffer.from('x'));
    expect(macA).not.toEqual(macB);
    expect(computeCallMac(a, 'Emit', 'c', 1, 1, Buffer.from('x'))).toEqual(macA);
    expect(macB).toEqual(reference(b, 'Emit', 'c', 1, 1, Buffer.from('x')));
  });
});
