import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, writeSync, constants as fsc } from 'node:fs';
import { fsyncDir } from './ledger-files.js';
import { dirname } from 'node:path';
import nacl from 'tweetnacl';
import { EosError } from '@everythingos/proto';

/** Key name used in checkpoint signature lines (C2SP signed-note key name). */
export const LEDGER_KEY_NAME = 'eosd-ledger';

const KEY_FILE_TYPE = 'eosd-ledger-ed25519';
const SEED_BYTES = 32;
const PUBLIC_KEY_BYTES = 32;

/** An Ed25519 public key used to verify checkpoints and heads offline. */
export interface LedgerPublicKey {
  /** Raw 32-byte Ed25519 public key. */
  readonly raw: Buffer;
  /** C2SP key ID: SHA-256(name || 0x0A || 0x01 || pubkey)[:4]. */
  readonly keyId: Buffer;
  /** Verifies a detached 64-byte signature over `message`. */
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/** The supervisor's ledger signing key. The private half never leaves this object. */
export interface LedgerSigningKey {
  readonly publicKey: LedgerPublicKey;
  /** Signs `message`; returns the 64-byte Ed25519 signature. */
  sign(message: Uint8Array): Buffer;
}

/** C2SP signed-note key ID for an Ed25519 key (https://c2sp.org/signed-note). */
export function ledgerKeyId(raw: Uint8Array, name = LEDGER_KEY_NAME): Buffer {
  return createHash('sha256')
    .update(Buffer.from(name, 'utf8'))
    .update(Buffer.from([0x0a, 0x01]))
    .update(raw)
    .digest()
    .subarray(0, 4);
}

/**
 * Wraps a raw Ed25519 public key (32 bytes, or its base64) for offline verification.
 * @throws EOS_INVALID_ARGUMENT when the key is not 32 bytes.
 */
export function ledgerPublicKey(key: Uint8Array | string): LedgerPublicKey {
  const raw = typeof key === 'string' ? Buffer.from(key.trim(), 'base64') : Buffer.from(key);
  if (raw.length !== PUBLIC_KEY_BYTES) {
    throw new EosError('EOS_INVALID_ARGUMENT', `ledger public key must be ${PUBLIC_KEY_BYTES} bytes, got ${raw.length}`);
  }
  const keyObject: KeyObject = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
    format: 'jwk',
  });
  return {
    raw,
    keyId: ledgerKeyId(raw),
    verify: (message, signature) => signature.length === 64 && verify(null, message, keyObject, signature),
  };
}

function signingKeyFromSeed(seed: Uint8Array): LedgerSigningKey {
  const pair = nacl.sign.keyPair.fromSeed(seed);
  const raw = Buffer.from(pair.publicKey);
  const privateKey = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url'), d: Buffer.from(seed).toString('base64url') },
    format: 'jwk',
  });
  return { publicKey: ledgerPublicKey(raw), sign: (message) => sign(null, message, privateKey) };
}

/**
 * Generates a new Ed25519 ledger signing key (seed from tweetnacl's CSPRNG) and writes it to
 * `path` with mode 0400, failing if the file exists. Also writes `<path>.pub` (base64 raw public
 * key, mode 0444) for offline verifiers. This key must not be shared with any other purpose.
 * @throws EOS_ALREADY_EXISTS when `path` exists.
 */
export function generateLedgerKey(path: string): LedgerSigningKey {
  const seed = nacl.randomBytes(SEED_BYTES);
  const key = signingKeyFromSeed(seed);
  const body = `${JSON.stringify({ v: 1, type: KEY_FILE_TYPE, seed: Buffer.from(seed).toString('base64') })}\n`;
  let fd: number;
  try {
    fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o400);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new EosError('EOS_ALREADY_EXISTS', `ledger key ${path} already exists; load it instead`, { cause: err });
    }
    throw err;
  }
  try {
    writeSync(fd, body);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const pubFd = openSync(`${path}.pub`, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, 0o444);
  try {
    writeSync(pubFd, `${key.publicKey.raw.toString('base64')}\n`);
    fsyncSync(pubFd);
  } finally {
    closeSync(pubFd);
  }
  fsyncDir(dirname(path));
  return key;
}

/**
 * Loads the ledger signing key from `path`. Refuses a key file that group or others can access.
 * @throws EOS_PERMISSION_DENIED when the file mode is wider than 0600.
 * @throws EOS_NOT_FOUND when the file does not exist.
 * @throws EOS_CONFIG_INVALID when the file is not a ledger key.
 */
export function loadLedgerKey(path: string): LedgerSigningKey {
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new EosError('EOS_NOT_FOUND', `ledger key ${path} does not exist; generate it first`, { cause: err });
    }
    throw err;
  }
  let text: string;
  try {
    const st = fstatSync(fd);
    if ((st.mode & 0o077) !== 0) {
      throw new EosError(
        'EOS_PERMISSION_DENIED',
        `ledger key ${path} has mode ${(st.mode & 0o777).toString(8)}; it must be 0400 (chmod 0400 ${path})`,
      );
    }
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  let seed: Buffer | undefined;
  try {
    const parsed = JSON.parse(text) as { v?: unknown; type?: unknown; seed?: unknown };
    if (parsed.v === 1 && parsed.type === KEY_FILE_TYPE && typeof parsed.seed === 'string') {
      seed = Buffer.from(parsed.seed, 'base64');
    }
  } catch (err) {
    throw new EosError('EOS_CONFIG_INVALID', `ledger key ${path} is not valid JSON`, { cause: err });
  }
  if (seed?.length !== SEED_BYTES) {
    throw new EosError('EOS_CONFIG_INVALID', `ledger key ${path} is not an ${KEY_FILE_TYPE} key file`);
  }
  return signingKeyFromSeed(seed);
}

/**
 * Loads or creates the ledger signing key at `path` (0400).
 * @throws see {@link loadLedgerKey}.
 */
export function loadOrGenerateLedgerKey(path: string): LedgerSigningKey {
  try {
    return loadLedgerKey(path);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'EOS_NOT_FOUND') {
      return generateLedgerKey(path);
    }
    throw err;
  }
}

/** Reads a `<key>.pub` file (base64 raw Ed25519 public key). */
export function readLedgerPublicKey(path: string): LedgerPublicKey {
  return ledgerPublicKey(readFileSync(path, 'utf8'));
}
