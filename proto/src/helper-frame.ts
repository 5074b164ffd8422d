import { EosError } from './errors.js';
import { helperFrameTypes } from './load.js';
import type { HelperFrame, HelperFrame__Output } from './gen/eos/helper/v1/HelperFrame.js';
import type { SupervisorFrame, SupervisorFrame__Output } from './gen/eos/helper/v1/SupervisorFrame.js';

/**
 * Version of the `eos.helper.v1` contract. Helper and supervisor must agree exactly; bump it on
 * any change a peer of the previous version would misread.
 */
export const HELPER_PROTOCOL_VERSION = 1;

/**
 * Largest frame accepted on the helper socket, in bytes. The largest legitimate frame is one
 * Glasswally IOC line at the helper's 1 MiB cap plus a few bytes of envelope.
 */
export const MAX_HELPER_FRAME_BYTES = 1024 * 1024 + 4096;

// Must match LOADER_OPTIONS in load.ts, so decoded objects have the generated __Output shape.
const TO_OBJECT = { longs: Number, enums: String, defaults: true, oneofs: true } as const;

function frame(body: Uint8Array): Buffer {
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

/** Encodes a helper → supervisor frame: 4-byte big-endian length, then HelperFrame. */
export function encodeHelperFrame(msg: HelperFrame): Buffer {
  const { helper } = helperFrameTypes();
  return frame(helper.encode(helper.fromObject(msg)).finish());
}

/** Encodes a supervisor → helper frame: 4-byte big-endian length, then SupervisorFrame. */
export function encodeSupervisorFrame(msg: SupervisorFrame): Buffer {
  const { supervisor } = helperFrameTypes();
  return frame(supervisor.encode(supervisor.fromObject(msg)).finish());
}

/**
 * Splits a byte stream into frames and decodes each one. Feed it socket chunks; it returns the
 * complete messages so far and keeps the rest.
 * @throws EosError `EOS_INVALID_ARGUMENT` on a frame longer than {@link MAX_HELPER_FRAME_BYTES}
 * or a body that is not the expected message; the stream cannot be resynchronised after that.
 */
export class FrameDecoder<T> {
  #pending: Buffer = Buffer.alloc(0);
  readonly #decode: (body: Buffer) => T;

  private constructor(decode: (body: Buffer) => T) {
    this.#decode = decode;
  }

  /** A decoder for what the helper sends. */
  static forHelperFrames(): FrameDecoder<HelperFrame__Output> {
    const { helper } = helperFrameTypes();
    return new FrameDecoder((body) => helper.toObject(helper.decode(body), TO_OBJECT) as HelperFrame__Output);
  }

  /** A decoder for what the supervisor sends. */
  static forSupervisorFrames(): FrameDecoder<SupervisorFrame__Output> {
    const { supervisor } = helperFrameTypes();
    return new FrameDecoder((body) => supervisor.toObject(supervisor.decode(body), TO_OBJECT) as SupervisorFrame__Output);
  }

  /** Appends a chunk and returns every frame it completes. */
  push(chunk: Buffer): T[] {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const out: T[] = [];
    while (this.#pending.length >= 4) {
      const length = this.#pending.readUInt32BE(0);
      if (length > MAX_HELPER_FRAME_BYTES) {
        throw new EosError('EOS_INVALID_ARGUMENT', `helper frame of ${length} bytes is over the ${MAX_HELPER_FRAME_BYTES}-byte cap`);
      }
      if (this.#pending.length < 4 + length) {
        break;
      }
      const body = this.#pending.subarray(4, 4 + length);
      this.#pending = this.#pending.subarray(4 + length);
      try {
        out.push(this.#decode(body));
      } catch (err) {
        throw new EosError('EOS_INVALID_ARGUMENT', 'helper frame does not decode', { cause: err });
      }
    }
    return out;
  }
}
