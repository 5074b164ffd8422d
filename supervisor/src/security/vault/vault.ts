import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { EosError } from '@everythingos/proto';
import nacl from 'tweetnacl';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ensurePrivateDir, fsyncDir, loadOrCreateKey } from './key-file.js';
import { SecretScanner } from './secret-scanner.js';

/** Longest credential lifetime: one hour, in ms. */
export const MAX_CREDENTIAL_TTL_MS = 3_600_000;

/** Shortest secret accepted, bytes: shorter ones would make the exact-match scanner redact noise. */
export const MIN_SECRET_BYTES = 8;

/** Longest secret accepted, bytes. */
export const MAX_SECRET_BYTES = 65_536;

const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const SEALED_SUFFIX = '.sealed';
/** File magic: format version 1 = magic ‖ nonce(24) ‖ secretbox(nameLen:u8 ‖ name ‖ secret). */
const MAGIC = Buffer.from('EOSVLT1\0', 'latin1');
const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A secret injected into a header must be visible ASCII (RFC 9110 §5.5) or space/tab. */
const HEADER_SAFE = /^[\t\x20-\x7e]+$/;

/** Why a credential was refused. Only ever in audit records, never returned to the agent. */
export type CredentialDenyReason =
  | 'unknown'
  | 'agent-mismatch'
  | 'host-mismatch'
  | 'expired'
  | 'secret-missing';

/**
 * One audit record from the vault. Never contains secret bytes or a credentialId: `credentialRef`
 * is `sha256:` + hex SHA-256(credentialId), enough to correlate grant/use/revoke.
 */
export type VaultAuditEvent =
  | {
      type: 'vault.grant';
      at: number;
      credentialRef: string;
      agentId: string;
      name: string;
      host: string;
      expiresAt: number;
    }
  | { type: 'vault.use'; at: number; credentialRef: string; agentId: string; name: string; host: string }
  | { type: 'vault.internal-use'; at: number; name: string; purpose: string }
  | { type: 'vault.expire'; at: number; credentialRef: string; agentId: string; name: string; host: string }
  | {
      type: 'vault.revoke';
      at: number;
      credentialRef: string;
      agentId: string;
      name: string;
      host: string;
      reason: string;
    }
  | {
      type: 'vault.deny';
      at: number;
      credentialRef: string;
      agentId: string;
      host: string;
      reason: CredentialDenyReason;
    }
  | { type: 'vault.secret-set'; at: number; name: string }
  | { type: 'vault.secret-delete'; at: number; name: string };

/** Receives every vault audit record; awaited, and a rejection fails the operation (fail closed). */
export type VaultAuditSink = (event: VaultAuditEvent) => void | Promise<void>;

/** Dependencies of {@link Vault.open}. */
export interface VaultDeps {
  readonly audit: VaultAuditSink;
  readonly logger: Logger;
  /** Milliseconds since the epoch. */
  readonly now?: () => number;
  /** Owner required for the key and directory; the process's effective uid by default. */
  readonly uid?: number;
}

/** How a granted secret is put into a request. */
export const GrantOptions = z.strictObject({
  /** Host name (no port, no scheme) the credential may be sent to; compared case-insensitively. */
  host: z
    .string()
    .min(1)
    .max(253)
    .regex(/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/, 'a bare host name, no scheme, port or path'),
  /** Lifetime in ms, at most one hour. */
  ttlMs: z.number().int().positive().max(MAX_CREDENTIAL_TTL_MS),
  /** Header the secret is injected into. */
  header: z.string().regex(HEADER_TOKEN).default('authorization'),
  /** Text put before the secret in the header value. */
  valuePrefix: z.string().regex(/^[\t\x20-\x7e]*$/).default('Bearer '),
});
/** What callers pass to {@link Vault.grant}. */
export type GrantOptionsInput = z.input<typeof GrantOptions>;

/** A header to inject, produced by {@link Vault.resolve}. Supervisor-internal: never send to an agent. */
export interface ResolvedCredential {
  readonly name: string;
  /** Lower-case header name. */
  readonly header: string;
  readonly value: string;
}

interface Grant {
  readonly ref: string;
  readonly agentId: string;
  readonly name: string;
  readonly host: string;
  readonly header: string;
  readonly valuePrefix: string;
  readonly expiresAt: number;
}

function normalizeScopeHost(host: string): string {
  let h = host.toLowerCase();
  while (h.endsWith('.')) {
    h = h.slice(0, -1);
  }
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

/** `sha256:<hex>`: the ledger's digest form, so audit records may carry it under a credential-named key. */
function credentialRef(credentialId: string): string {
  return `sha256:${createHash('sha256').update(credentialId).digest('hex')}`;
}

function assertName(name: string): void {
  if (!SECRET_NAME.test(name)) {
    throw new EosError(
      'EOS_INVALID_ARGUMENT',
      `secret name "${name}" is invalid; use 1-128 of A-Z a-z 0-9 _ . - starting with a letter or digit`,
    );
  }
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/**
 * The credential vault. Secrets are sealed at rest with NaCl secretbox (fresh random nonce per
 * write, name bound inside the box) under a 0400 key file, written atomically (tmp + fsync +
 * rename + dir fsync). Agents get only a `credentialId` scoped to themselves, one host and a TTL
 * of at most an hour; {@link Vault.resolve} turns it into a header for the egress guard.
 *
 * @experimental
 */
export class Vault {
  readonly #dir: string;
  readonly #key: Uint8Array;
  readonly #deps: VaultDeps;
  readonly #now: () => number;
  readonly #secrets = new Map<string, Buffer>();
  readonly #grants = new Map<string, Grant>();
  #scanner: SecretScanner | null = null;

  private constructor(dir: string, key: Uint8Array, deps: VaultDeps) {
    this.#dir = dir;
    this.#key = key;
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  /**
   * Open (or create) the vault in `dir` with the key at `keyFile`, creating a 32-byte 0400 key
   * when missing, and unseal every stored secret.
   *
   * @throws EosError `EOS_VAULT_INSECURE` (key/dir mode, owner, symlink, size), `EOS_VAULT_CORRUPT`
   *   (a sealed file fails authentication or is bound to another name).
   */
  static async open(dir: string, keyFile: string, deps: VaultDeps): Promise<Vault> {
    const uid = deps.uid ?? process.geteuid?.() ?? 0;
    await ensurePrivateDir(dir, uid);
    const key = await loadOrCreateKey(keyFile, uid);
    const vault = new Vault(dir, key, deps);
    await vault.reload();
    return vault;
  }

  /**
   * Re-read every sealed secret from disk (after `eosd secrets set` wrote one). Existing grants
   * keep working and see new values.
   *
   * @throws EosError `EOS_VAULT_CORRUPT`.
   */
  async reload(): Promise<void> {
    const loaded = new Map<string, Buffer>();
    for (const entry of await readdir(this.#dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.') && entry.name.endsWith('.tmp')) {
        this.#deps.logger.debug({ file: entry.name }, 'removing stale vault temp file');
        await rm(join(this.#dir, entry.name), { force: true });
        continue;
      }
      if (!entry.name.endsWith(SEALED_SUFFIX)) {
        continue;
      }
      const name = entry.name.slice(0, -SEALED_SUFFIX.length);
      if (!entry.isFile() || !SECRET_NAME.test(name)) {
        throw new EosError('EOS_VAULT_CORRUPT', `vault entry ${entry.name} is not a sealed file`, {
          details: { file: entry.name },
        });
      }
      loaded.set(name, this.#unseal(name, await readFile(join(this.#dir, entry.name))));
    }
    for (const old of this.#secrets.values()) {
      old.fill(0);
    }
    this.#secrets.clear();
    for (const [name, value] of loaded) {
      this.#secrets.set(name, value);
    }
    this.#scanner = null;
  }

  #seal(name: string, secret: Uint8Array): Buffer {
    const nameBytes = Buffer.from(name, 'utf8');
    const plain = Buffer.concat([Buffer.of(nameBytes.length), nameBytes, secret]);
    const nonce = randomBytes(nacl.secretbox.nonceLength);
    const box = nacl.secretbox(plain, nonce, this.#key);
    plain.fill(0);
    return Buffer.concat([MAGIC, nonce, box]);
  }

  #unseal(name: string, file: Buffer): Buffer {
    const corrupt = (why: string): EosError =>
      new EosError('EOS_VAULT_CORRUPT', `sealed secret ${name}: ${why}`, { details: { name } });
    const nonceEnd = MAGIC.length + nacl.secretbox.nonceLength;
    const tooShort = file.length < nonceEnd + nacl.secretbox.overheadLength;
    if (tooShort || !file.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw corrupt('not a vault file or truncated');
    }
    const plain = nacl.secretbox.open(
      file.subarray(nonceEnd),
      file.subarray(MAGIC.length, nonceEnd),
      this.#key,
    );
    if (plain === null) {
      throw corrupt('authentication failed (tampered, or sealed with another key)');
    }
    const buf = Buffer.from(plain);
    plain.fill(0);
    const nameLen = buf[0] ?? 0;
    if (buf.length < 1 + nameLen || buf.subarray(1, 1 + nameLen).toString('utf8') !== name) {
      buf.fill(0);
      throw corrupt('sealed under a different name (file renamed or swapped)');
    }
    const secret = Buffer.from(buf.subarray(1 + nameLen));
    buf.fill(0);
    return secret;
  }

  async #writeAtomic(file: string, data: Buffer): Promise<void> {
    const tmp = join(this.#dir, `.${randomBytes(8).toString('hex')}.tmp`);
    const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      await handle.write(data, 0, data.length, 0);
      await handle.sync();
    } catch (err) {
      await handle.close();
      await rm(tmp, { force: true });
      throw err;
    }
    await handle.close();
    await rename(tmp, join(this.#dir, file));
    await fsyncDir(this.#dir);
  }

  /**
   * Store (or replace) a secret, sealed. The caller's buffer is not retained.
   *
   * @throws EosError `EOS_INVALID_ARGUMENT` for a bad name or a size outside 8 B-64 KiB.
   */
  async set(name: string, secret: Uint8Array): Promise<void> {
    assertName(name);
    if (secret.length < MIN_SECRET_BYTES || secret.length > MAX_SECRET_BYTES) {
      throw new EosError(
        'EOS_INVALID_ARGUMENT',
        `secret ${name} is ${secret.length} bytes; it must be ${MIN_SECRET_BYTES}-${MAX_SECRET_BYTES}`,
      );
    }
    await this.#writeAtomic(`${name}${SEALED_SUFFIX}`, this.#seal(name, secret));
    this.#secrets.get(name)?.fill(0);
    this.#secrets.set(name, Buffer.from(secret));
    this.#scanner = null;
    await this.#deps.audit({ type: 'vault.secret-set', at: this.#now(), name });
  }

  /**
   * Delete a secret and revoke every grant of it. Returns whether it existed.
   *
   * @throws EosError `EOS_INVALID_ARGUMENT` for a bad name.
   */
  async delete(name: string): Promise<boolean> {
    assertName(name);
    try {
      await unlink(join(this.#dir, `${name}${SEALED_SUFFIX}`));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) {
        throw err;
      }
    }
    await fsyncDir(this.#dir);
    const existed = this.#secrets.has(name);
    this.#secrets.get(name)?.fill(0);
    this.#secrets.delete(name);
    this.#scanner = null;
    for (const [id, grant] of this.#grants) {
      if (grant.name === name) {
        await this.#revokeGrant(id, grant, 'secret-deleted');
      }
    }
    if (existed) {
      await this.#deps.audit({ type: 'vault.secret-delete', at: this.#now(), name });
    }
    return existed;
  }

  /**
   * A copy of a secret for one of the supervisor's own checks (e.g. the HMAC key that verifies the
   * Glasswally feed), never for an agent. Audited as `vault.internal-use` with the purpose.
   * @returns undefined when no such secret is stored.
   */
  async secretForSupervisor(name: string, purpose: string): Promise<Buffer | undefined> {
    const secret = this.#secrets.get(name);
    if (secret === undefined) {
      return undefined;
    }
    await this.#deps.audit({ type: 'vault.internal-use', at: this.#now(), name, purpose });
    return Buffer.from(secret);
  }

  /** Names of the stored secrets, sorted. */
  list(): string[] {
    return [...this.#secrets.keys()].sort();
  }

  /**
   * Issue a credentialId for `agentId` to use secret `name` against one host, for at most an hour.
   * The id is 256 random bits; it is useless to any other agent or host.
   *
   * @throws EosError `EOS_NOT_FOUND` (no such secret), `EOS_INVALID_ARGUMENT` (bad options, TTL
   *   over one hour, or a secret that is not header-safe).
   */
  async grant(agentId: string, name: string, options: GrantOptionsInput): Promise<string> {
    const parsed = GrantOptions.safeParse(options);
    if (!parsed.success) {
      throw new EosError('EOS_INVALID_ARGUMENT', `invalid grant: ${z.prettifyError(parsed.error)}`, {
        cause: parsed.error,
      });
    }
    if (agentId.length === 0) {
      throw new EosError('EOS_INVALID_ARGUMENT', 'agentId must not be empty');
    }
    const secret = this.#secrets.get(name);
    if (secret === undefined) {
      throw new EosError('EOS_NOT_FOUND', `no secret named ${name}; add it with eosd secrets set`);
    }
    if (!HEADER_SAFE.test(secret.toString('latin1'))) {
      throw new EosError(
        'EOS_INVALID_ARGUMENT',
        `secret ${name} contains bytes that cannot go in a header; it cannot be injected`,
      );
    }
    const { host, ttlMs, header, valuePrefix } = parsed.data;
    const credentialId = `cred_${randomBytes(32).toString('base64url')}`;
    const grant: Grant = {
      ref: credentialRef(credentialId),
      agentId,
      name,
      host: normalizeScopeHost(host),
      header: header.toLowerCase(),
      valuePrefix,
      expiresAt: this.#now() + ttlMs,
    };
    await this.#deps.audit({
      type: 'vault.grant',
      at: this.#now(),
      credentialRef: grant.ref,
      agentId,
      name,
      host: grant.host,
      expiresAt: grant.expiresAt,
    });
    this.#grants.set(credentialId, grant);
    return credentialId;
  }

  async #deny(
    credentialId: string,
    agentId: string,
    host: string,
    reason: CredentialDenyReason,
  ): Promise<never> {
    await this.#deps.audit({
      type: 'vault.deny',
      at: this.#now(),
      credentialRef: credentialRef(credentialId),
      agentId,
      host,
      reason,
    });
    throw new EosError('EOS_CREDENTIAL_DENIED', 'credential is not valid for this agent and host');
  }

  /**
   * Turn a credentialId into the header to inject, if and only if it was granted to `agentId`
   * for `host` and has not expired or been revoked. Fails closed; every outcome is audited.
   *
   * @throws EosError `EOS_CREDENTIAL_DENIED`.
   */
  async resolve(credentialId: string, agentId: string, host: string): Promise<ResolvedCredential> {
    const scopeHost = normalizeScopeHost(host);
    const grant = this.#grants.get(credentialId);
    if (grant === undefined) {
      return this.#deny(credentialId, agentId, scopeHost, 'unknown');
    }
    if (grant.agentId !== agentId) {
      return this.#deny(credentialId, agentId, scopeHost, 'agent-mismatch');
    }
    if (this.#now() >= grant.expiresAt) {
      this.#grants.delete(credentialId);
      await this.#audit(grant, 'vault.expire');
      return this.#deny(credentialId, agentId, scopeHost, 'expired');
    }
    if (grant.host !== scopeHost) {
      return this.#deny(credentialId, agentId, scopeHost, 'host-mismatch');
    }
    const secret = this.#secrets.get(grant.name);
    if (secret === undefined) {
      return this.#deny(credentialId, agentId, scopeHost, 'secret-missing');
    }
    await this.#audit(grant, 'vault.use');
    const value = `${grant.valuePrefix}${secret.toString('latin1')}`;
    return { name: grant.name, header: grant.header, value };
  }

  #audit(grant: Grant, type: 'vault.use' | 'vault.expire'): void | Promise<void> {
    return this.#deps.audit({
      type,
      at: this.#now(),
      credentialRef: grant.ref,
      agentId: grant.agentId,
      name: grant.name,
      host: grant.host,
    });
  }

  async #revokeGrant(credentialId: string, grant: Grant, reason: string): Promise<void> {
    this.#grants.delete(credentialId);
    await this.#deps.audit({
      type: 'vault.revoke',
      at: this.#now(),
      credentialRef: grant.ref,
      agentId: grant.agentId,
      name: grant.name,
      host: grant.host,
      reason,
    });
  }

  /** Revoke one credential. Returns whether it was active. */
  async revoke(credentialId: string, reason = 'revoked'): Promise<boolean> {
    const grant = this.#grants.get(credentialId);
    if (grant === undefined) {
      return false;
    }
    await this.#revokeGrant(credentialId, grant, reason);
    return true;
  }

  /** Revoke every credential of an agent (on stop, quarantine, estop). Returns how many. */
  async revokeAllFor(agentId: string, reason = 'agent-revoked'): Promise<number> {
    let count = 0;
    for (const [id, grant] of this.#grants) {
      if (grant.agentId === agentId) {
        await this.#revokeGrant(id, grant, reason);
        count++;
      }
    }
    return count;
  }

  /** Drop and audit every expired credential; call it periodically. Returns how many expired. */
  async sweepExpired(): Promise<number> {
    const now = this.#now();
    let count = 0;
    for (const [id, grant] of this.#grants) {
      if (now >= grant.expiresAt) {
        this.#grants.delete(id);
        await this.#audit(grant, 'vault.expire');
        count++;
      }
    }
    return count;
  }

  /** Number of live (unexpired-at-last-check, unrevoked) credentials. */
  get activeGrantCount(): number {
    return this.#grants.size;
  }

  /** A scanner for every stored secret, rebuilt lazily after set/delete/reload. */
  scanner(): SecretScanner {
    this.#scanner ??= SecretScanner.create(this.#secrets);
    return this.#scanner;
  }
}
