import { createHash } from 'node:crypto';
import nacl from 'tweetnacl';
import { z } from 'zod';
import { EosError } from '@everythingos/proto';
import { canonicalJson } from '../ledger/canonical-json.js';

/** Domain separator inside every signed decision, so no other eosd signature can be passed off as one. */
export const DECISION_DOMAIN = 'eosd-approval-decision-v1';

/** The fields an approver signs. */
export interface DecisionFields {
  requestId: string;
  challenge: string;
  decision: 'approve' | 'deny';
  approverKeyId: string;
  /** When the approver signed, ms since the epoch. */
  timeMs: number;
  reason: string;
}

/** The exact bytes that are signed: RFC 8785 canonical JSON of the fields plus version and domain. */
export function decisionSigningBytes(f: DecisionFields): Uint8Array {
  return Buffer.from(
    canonicalJson({
      v: 1,
      domain: DECISION_DOMAIN,
      requestId: f.requestId,
      challenge: f.challenge,
      decision: f.decision,
      approverKeyId: f.approverKeyId,
      timeMs: f.timeMs,
      reason: f.reason,
    }),
    'utf8',
  );
}

/** Ed25519 detached signature of {@link decisionSigningBytes} with a 64-byte tweetnacl secret key. */
export function signDecision(f: DecisionFields, secretKey: Uint8Array): Uint8Array {
  return nacl.sign.detached(decisionSigningBytes(f), secretKey);
}

/** Whether `signature` is a valid Ed25519 signature of the fields under `publicKey` (32 bytes). */
export function verifyDecision(f: DecisionFields, signature: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== nacl.sign.signatureLength || publicKey.length !== nacl.sign.publicKeyLength) {
    return false;
  }
  return nacl.sign.detached.verify(decisionSigningBytes(f), signature, publicKey);
}

const b64 = (n: number): z.ZodType<string> =>
  z.string().refine((s) => Buffer.from(s, 'base64').length === n && Buffer.from(s, 'base64').toString('base64') === s, `${n} bytes in base64`);

/** The approver key file `eosd keys approver init` writes (mode 0600). */
export const ApproverKeyFileSchema = z.strictObject({
  v: z.literal(1),
  kind: z.literal('eosd-approver-ed25519'),
  id: z.string().min(1).max(64),
  publicKey: b64(nacl.sign.publicKeyLength),
  secretKey: b64(nacl.sign.secretKeyLength),
});
/** A parsed approver key file. */
export type ApproverKeyFile = z.output<typeof ApproverKeyFileSchema>;

/** A fresh approver key pair under `id`, in key-file form. */
export function generateApproverKey(id: string): ApproverKeyFile {
  const kp = nacl.sign.keyPair();
  return {
    v: 1,
    kind: 'eosd-approver-ed25519',
    id,
    publicKey: Buffer.from(kp.publicKey).toString('base64'),
    secretKey: Buffer.from(kp.secretKey).toString('base64'),
  };
}

/**
 * Parses a key file's text and checks that the public key belongs to the secret key.
 * @throws EosError `EOS_INVALID_ARGUMENT` when it is not a valid approver key file.
 */
export function parseApproverKeyFile(text: string, source: string): ApproverKeyFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new EosError('EOS_INVALID_ARGUMENT', `approver key ${source} is not JSON`, { cause: err });
  }
  const r = ApproverKeyFileSchema.safeParse(raw);
  if (!r.success) {
    throw new EosError('EOS_INVALID_ARGUMENT', `approver key ${source} is invalid:\n${z.prettifyError(r.error)}`, { cause: r.error });
  }
  const derived = nacl.sign.keyPair.fromSecretKey(Buffer.from(r.data.secretKey, 'base64')).publicKey;
  if (Buffer.from(derived).toString('base64') !== r.data.publicKey) {
    throw new EosError('EOS_INVALID_ARGUMENT', `approver key ${source}: the public key does not belong to the secret key`);
  }
  return r.data;
}

/** Short fingerprint of a public key for logs and the ledger: first 16 hex digits of its SHA-256. */
export function keyFingerprint(publicKeyB64: string): string {
  return createHash('sha256').update(Buffer.from(publicKeyB64, 'base64')).digest('hex').slice(0, 16);
}
