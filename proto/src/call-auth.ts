import { createHash, createHmac } from 'node:crypto';

const DOMAIN = 'eos.agent.v1';
const EMPTY_BODY_DIGEST = createHash('sha256').update('').digest('hex');

/**
 * The MAC of one agent→supervisor call, as specified on `eos.agent.v1.CallAuth`: HMAC-SHA256
 * under the session key over the domain, method, channel, nonce, timestamp and SHA-256 of the body.
 */
export function computeCallMac(
  sessionKey: Buffer,
  method: string,
  channel: string,
  nonce: number,
  timestampMs: number,
  body: Uint8Array | undefined,
): Buffer {
  const bodyDigest =
    body === undefined || body.length === 0 ? EMPTY_BODY_DIGEST : createHash('sha256').update(body).digest('hex');
  return createHmac('sha256', sessionKey)
    .update(`${DOMAIN}\n${method}\n${channel}\n${nonce}\n${timestampMs}\n${bodyDigest}`)
    .digest();
}
