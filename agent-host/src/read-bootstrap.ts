import { Socket } from 'node:net';
import { decodeBootstrap, MAX_BOOTSTRAP_BYTES, type Bootstrap } from '@everythingos/proto/agent-wire';
import { EosError } from '@everythingos/proto/core';

/** The inherited pipe the supervisor writes the bootstrap to, and keeps open as a lifeline. */
export const BOOTSTRAP_FD = 3;

export interface BootstrapChannel {
  bootstrap: Bootstrap;
  /** Resolves when the supervisor's end of the pipe closes (it exited or stopped us). */
  closed: Promise<void>;
}

/**
 * Reads the length-prefixed bootstrap from fd 3 and keeps the pipe open: its EOF means the
 * supervisor is gone, so agent-host exits and no agent outlives its supervisor.
 * @throws EosError `EOS_INVALID_ARGUMENT` when the frame is malformed or the pipe closes early.
 */
export function readBootstrap(fd = BOOTSTRAP_FD, timeoutMs = 10_000): Promise<BootstrapChannel> {
  const pipe = new Socket({ fd, readable: true, writable: false });
  let buffered = Buffer.alloc(0);
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  return new Promise<BootstrapChannel>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => fail(new EosError('EOS_AGENT_START_TIMEOUT', 'no bootstrap on fd 3')), timeoutMs);
    function fail(err: Error): void {
      if (!done) {
        done = true;
        clearTimeout(timer);
        reject(err);
      }
    }
    pipe.on('data', (chunk: Buffer) => {
      if (done) {
        return;
      }
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length > 4 + MAX_BOOTSTRAP_BYTES) {
        fail(new EosError('EOS_INVALID_ARGUMENT', 'bootstrap frame too large'));
        return;
      }
      if (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
        try {
          const bootstrap = decodeBootstrap(buffered);
          done = true;
          clearTimeout(timer);
          buffered = Buffer.alloc(0);
          resolve({ bootstrap, closed });
        } catch (err) {
          fail(err as Error);
        }
      }
    });
    pipe.on('end', () => {
      resolveClosed();
      fail(new EosError('EOS_INVALID_ARGUMENT', 'bootstrap pipe closed before a full frame arrived'));
    });
    pipe.on('close', () => resolveClosed());
    pipe.on('error', (err) => {
      resolveClosed();
      fail(err);
    });
  });
}
