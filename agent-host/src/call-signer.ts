import type { agentV1 } from '@everythingos/proto';
import { computeCallMac } from '@everythingos/proto/agent-wire';

/** Signs every call of this process with its session key and a strictly increasing nonce. */
export class CallSigner {
  readonly #key: Buffer;
  #nonce = 0;

  constructor(sessionKey: Buffer) {
    this.#key = sessionKey;
  }

  sign(method: string, channel: string, body?: Uint8Array): agentV1.CallAuth__Output {
    const nonce = ++this.#nonce;
    const timestampMs = Date.now();
    return { nonce, timestampMs, mac: computeCallMac(this.#key, method, channel, nonce, timestampMs, body) };
  }
}
