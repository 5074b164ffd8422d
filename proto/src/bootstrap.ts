import { EosError } from './errors.js';
import { decodeBootstrapParams, encodeBootstrapParams } from './session-codec.js';

/** What agent-host learns from the supervisor before it runs any agent code. */
export interface Bootstrap {
  protocolVersion: number;
  agentId: string;
  socketPath: string;
  /** 32 bytes; the per-process HMAC key. */
  sessionKey: Buffer;
  packageDir: string;
}

/** Largest bootstrap frame accepted, in bytes: far above a real one (< 1 KiB), far below harm. */
export const MAX_BOOTSTRAP_BYTES = 64 * 1024;

/** Encodes a bootstrap as the pipe frame: 4-byte big-endian length, then BootstrapParams. */
export function encodeBootstrap(b: Bootstrap): Buffer {
  const body = encodeBootstrapParams(b);
  const frame = Buffer.alloc(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

/**
 * Decodes a bootstrap frame produced by {@link encodeBootstrap}.
 * @throws EosError `EOS_INVALID_ARGUMENT` when the frame is truncated, oversized or incomplete.
 */
export function decodeBootstrap(frame: Buffer): Bootstrap {
  if (frame.length < 4) {
    throw new EosError('EOS_INVALID_ARGUMENT', 'bootstrap frame is truncated');
  }
  const length = frame.readUInt32BE(0);
  if (length > MAX_BOOTSTRAP_BYTES || frame.length < 4 + length) {
    throw new EosError('EOS_INVALID_ARGUMENT', `bootstrap frame has bad length ${length}`);
  }
  let msg: Bootstrap;
  try {
    msg = decodeBootstrapParams(frame.subarray(4, 4 + length)) as Bootstrap;
  } catch (err) {
    throw new EosError('EOS_INVALID_ARGUMENT', 'bootstrap frame is malformed', { cause: err });
  }
  if (msg.agentId === '' || msg.socketPath === '' || msg.sessionKey.length !== 32) {
    throw new EosError('EOS_INVALID_ARGUMENT', 'bootstrap is missing agent id, socket path or a 32-byte session key');
  }
  return { ...msg, sessionKey: Buffer.from(msg.sessionKey) };
}
