import { describe, expect, it } from 'vitest';
import {
  decisionSigningBytes,
  generateApproverKey,
  parseApproverKeyFile,
  signDecision,
  verifyDecision,
  type DecisionFields,
} from '../src/approvals/approval-signature.js';

const fields: DecisionFields = {
  requestId: 'apr-000000000000000000000001',
  challenge: 'c'.repeat(43),
  decision: 'approve',
  approverKeyId: 'alice',
  timeMs: 1_700_000_000_000,
  reason: 'looks fine',
};

describe('approval signatures', () => {
  const key = generateApproverKey('alice');
  const sk = Buffer.from(key.secretKey, 'base64');
  const pk = Buffer.from(key.publicKey, 'base64');

  it('signs canonical JSON with a domain separator, independent of key order', () => {
    expect(Buffer.from(decisionSigningBytes(fields)).toString()).toBe(
      '{"approverKeyId":"alice","challenge":"' + 'c'.repeat(43) + '","decision":"approve","domain":"eosd-approval-decision-v1","reason":"looks fine","requestId":"apr-000000000000000000000001","timeMs":1700000000000,"v":1}',
    );
  });

  it('verifies its own signature and rejects any changed field or another key', () => {
    const sig = signDecision(fields, sk);
    expect(verifyDecision(fields, sig, pk)).toBe(true);
    for (const change of [
      { requestId: 'apr-000000000000000000000002' },
      { challenge: 'd'.repeat(43) },
      { decision: 'deny' as const },
      { approverKeyId: 'mallory' },
      { timeMs: fields.timeMs + 1 },
      { reason: 'other' },
    ]) {
      expect(verifyDecision({ ...fields, ...change }, sig, pk)).toBe(false);
    }
    expect(verifyDecision(fields, sig, Buffer.from(generateApproverKey('x').publicKey, 'base64'))).toBe(false);
    expect(verifyDecision(fields, sig.subarray(0, 63), pk)).toBe(false);
  });

  it('parses a key file and refuses one whose public key does not match', () => {
    expect(parseApproverKeyFile(JSON.stringify(key), 'k')).toEqual(key);
    const other = generateApproverKey('alice');
    expect(() => parseApproverKeyFile(JSON.stringify({ ...key, publicKey: other.publicKey }), 'k')).toThrow(
      expect.objectContaining({ code: 'EOS_INVALID_ARGUMENT' }),
    );
    expect(() => parseApproverKeyFile('{', 'k')).toThrow(expect.objectContaining({ code: 'EOS_INVALID_ARGUMENT' }));
  });
});
