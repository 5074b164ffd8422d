import { chmod, chown, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { assertAppendable } from '../src/ledger/ledger-record.js';
import { Vault } from '../src/security/vault/index.js';
import type { VaultAuditEvent } from '../src/security/vault/index.js';

const logger = pino({ level: 'silent' });
const SECRET = Buffer.from('ghp_S3cr3tT0kenValue_0123456789abcdef');

async function tmpDir(): Promise<string> {
  const dir = await mkdtemp('/tmp/eosd-vault-');
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function openVault(opts: { now?: () => number } = {}) {
  const root = await tmpDir();
  const events: VaultAuditEvent[] = [];
  const deps = { audit: (e: VaultAuditEvent) => void events.push(e), logger, ...opts };
  const vault = await Vault.open(join(root, 'vault'), join(root, 'keys', 'vault.key'), deps);
  return { root, vault, events, deps };
}

const isRoot = process.geteuid?.() === 0;

describe('Vault', () => {
  it('creates a 32-byte 0400 key and a 0700 directory', async () => {
    const { root } = await openVault();
    const key = await stat(join(root, 'keys', 'vault.key'));
    expect(key.mode & 0o777).toBe(0o400);
    expect(key.size).toBe(32);
    expect((await stat(join(root, 'vault'))).mode & 0o777).toBe(0o700);
  });

  it.each([0o600, 0o440, 0o404, 0o644])('refuses a key file with mode %o with EOS_VAULT_INSECURE', async (mode) => {
    const { root, deps } = await openVault();
    const keyFile = join(root, 'keys', 'vault.key');
    await chmod(keyFile, mode);
    await expect(Vault.open(join(root, 'vault'), keyFile, deps)).rejects.toMatchObject({ code: 'EOS_VAULT_INSECURE' });
  });

  it('refuses a key file owned by another uid', async () => {
    const { root, deps } = await openVault();
    const keyFile = join(root, 'keys', 'vault.key');
    if (isRoot) {
      await chown(keyFile, 12_345, 12_345);
      await expect(Vault.open(join(root, 'vault'), keyFile, deps)).rejects.toMatchObject({ code: 'EOS_VAULT_INSECURE' });
    }
    // Without root, claim a different required owner: the check is the same comparison.
    await expect(Vault.open(join(root, 'vault'), keyFile, { ...deps, uid: 12_346 })).rejects.toMatchObject({
      code: 'EOS_VAULT_INSECURE',
    });
  });

  it('refuses a symlinked key, a wrong-size key and a group-readable vault directory', async () => {
    const { root, deps } = await openVault();
    const keyFile = join(root, 'keys', 'vault.key');
    const link = join(root, 'keys', 'link.key');
    await symlink(keyFile, link);
    await expect(Vault.open(join(root, 'vault'), link, deps)).rejects.toMatchObject({ code: 'EOS_VAULT_INSECURE' });
    const short = join(root, 'keys', 'short.key');
    await writeFile(short, Buffer.alloc(16), { mode: 0o400 });
    await expect(Vault.open(join(root, 'vault'), short, deps)).rejects.toMatchObject({ code: 'EOS_VAULT_INSECURE' });
    await chmod(join(root, 'vault'), 0o750);
    await expect(Vault.open(join(root, 'vault'), keyFile, deps)).rejects.toMatchObject({ code: 'EOS_VAULT_INSECURE' });
  });

  it('keeps secrets sealed at rest and reopens them with the key', async () => {
    const { root, vault, deps } = await openVault();
    await vault.set('GITHUB_TOKEN', SECRET);
    await vault.set('OTHER', Buffer.from('another-secret-value'));
    const files = await readdir(join(root, 'vault'));
    expect(files.sort()).toEqual(['GITHUB_TOKEN.sealed', 'OTHER.sealed']);
    const forms = [SECRET, Buffer.from(SECRET.toString('base64')), Buffer.from(SECRET.toString('hex'))];
    for (const f of files) {
      const bytes = await readFile(join(root, 'vault', f));
      for (const form of forms) {
        expect(bytes.includes(form)).toBe(false);
      }
    }
    // Fresh nonce per write: sealing the same value twice gives different files.
    const before = await readFile(join(root, 'vault', 'GITHUB_TOKEN.sealed'));
    await vault.set('GITHUB_TOKEN', SECRET);
    expect((await readFile(join(root, 'vault', 'GITHUB_TOKEN.sealed'))).equals(before)).toBe(false);

    const reopened = await Vault.open(join(root, 'vault'), join(root, 'keys', 'vault.key'), deps);
    expect(reopened.list()).toEqual(['GITHUB_TOKEN', 'OTHER']);
    expect(reopened.scanner().containsSecret(`x ${SECRET.toString()} y`)).toBe(true);
  });

  it('detects tampering and swapped files with EOS_VAULT_CORRUPT', async () => {
    const { root, vault, deps } = await openVault();
    await vault.set('A_KEY', SECRET);
    await vault.set('B_KEY', Buffer.from('bbbbbbbbbbbbbbbb'));
    const a = join(root, 'vault', 'A_KEY.sealed');
    const b = join(root, 'vault', 'B_KEY.sealed');
    const original = await readFile(a);
    await writeFile(a, await readFile(b));
    const keyFile = join(root, 'keys', 'vault.key');
    await expect(Vault.open(join(root, 'vault'), keyFile, deps)).rejects.toMatchObject({ code: 'EOS_VAULT_CORRUPT' });
    const flipped = Buffer.from(original);
    flipped[flipped.length - 1] = (flipped.at(-1) ?? 0) ^ 1;
    await writeFile(a, flipped);
    await expect(Vault.open(join(root, 'vault'), keyFile, deps)).rejects.toMatchObject({ code: 'EOS_VAULT_CORRUPT' });
  });

  it('deletes secrets and revokes their grants', async () => {
    const { vault, events } = await openVault();
    await vault.set('TMP_KEY', SECRET);
    const id = await vault.grant('agent-a', 'TMP_KEY', { host: 'api.example.com', ttlMs: 60_000 });
    expect(await vault.delete('TMP_KEY')).toBe(true);
    expect(vault.list()).toEqual([]);
    expect(events.some((e) => e.type === 'vault.revoke' && e.reason === 'secret-deleted')).toBe(true);
    await expect(vault.resolve(id, 'agent-a', 'api.example.com')).rejects.toMatchObject({ code: 'EOS_CREDENTIAL_DENIED' });
    expect(await vault.delete('TMP_KEY')).toBe(false);
  });

  it('rejects bad names, short secrets, TTL over one hour and unknown secrets', async () => {
    const { vault } = await openVault();
    await expect(vault.set('../escape', SECRET)).rejects.toMatchObject({ code: 'EOS_INVALID_ARGUMENT' });
    await expect(vault.set('SHORT', Buffer.from('abc'))).rejects.toMatchObject({ code: 'EOS_INVALID_ARGUMENT' });
    await vault.set('K', SECRET);
    await expect(vault.grant('a', 'K', { host: 'x.example', ttlMs: 3_600_001 })).rejects.toMatchObject({
      code: 'EOS_INVALID_ARGUMENT',
    });
    await expect(vault.grant('a', 'K', { host: 'https://x.example/', ttlMs: 1000 })).rejects.toMatchObject({
      code: 'EOS_INVALID_ARGUMENT',
    });
    await expect(vault.grant('a', 'NOPE', { host: 'x.example', ttlMs: 1000 })).rejects.toMatchObject({
      code: 'EOS_NOT_FOUND',
    });
  });
});

describe('Vault credentials', () => {
  async function setup() {
    let now = 1_000_000;
    const ctx = await openVault({ now: () => now });
    await ctx.vault.set('GITHUB_TOKEN', SECRET);
    return { ...ctx, advance: (ms: number) => (now += ms) };
  }

  it('grants an unguessable id that resolves only for its agent and host, auditing grant and use', async () => {
    const { vault, events } = await setup();
    const id = await vault.grant('agent-a', 'GITHUB_TOKEN', { host: 'API.GitHub.com', ttlMs: 600_000 });
    expect(id).toMatch(/^cred_[A-Za-z0-9_-]{43}$/);
    const other = await vault.grant('agent-a', 'GITHUB_TOKEN', { host: 'api.github.com', ttlMs: 600_000 });
    expect(other).not.toBe(id);
    const cred = await vault.resolve(id, 'agent-a', 'api.github.com.');
    expect(cred).toEqual({ name: 'GITHUB_TOKEN', header: 'authorization', value: `Bearer ${SECRET.toString()}` });
    expect(events.map((e) => e.type)).toEqual(['vault.secret-set', 'vault.grant', 'vault.grant', 'vault.use']);
    expect(JSON.stringify(events)).not.toContain(SECRET.toString());
    expect(JSON.stringify(events)).not.toContain(id);
    // The daemon appends these to the audit ledger, which refuses secret-looking fields unless they hold a digest.
    for (const { type, ...payload } of events) {
      expect(() => assertAppendable(type, null, payload)).not.toThrow();
    }
  });

  it.each([
    ['agent-mismatch', 'agent-b', 'api.github.com'],
    ['host-mismatch', 'agent-a', 'evil.example'],
  ])('denies %s with EOS_CREDENTIAL_DENIED and audits the deny', async (reason, agentId, host) => {
    const { vault, events } = await setup();
    const id = await vault.grant('agent-a', 'GITHUB_TOKEN', { host: 'api.github.com', ttlMs: 600_000 });
    await expect(vault.resolve(id, agentId, host)).rejects.toMatchObject({ code: 'EOS_CREDENTIAL_DENIED' });
    expect(events.at(-1)).toMatchObject({ type: 'vault.deny', reason, agentId });
  });

  it('denies an unknown id', async () => {
    const { vault, events } = await setup();
    await expect(vault.resolve('cred_guess', 'agent-a', 'api.github.com')).rejects.toMatchObject({
      code: 'EOS_CREDENTIAL_DENIED',
    });
    expect(events.at(-1)).toMatchObject({ type: 'vault.deny', reason: 'unknown' });
  });

  it('expires at the TTL (injected clock), auditing expire and deny', async () => {
    const { vault, events, advance } = await setup();
    const id = await vault.grant('agent-a', 'GITHUB_TOKEN', { host: 'api.github.com', ttlMs: 60_000 });
    advance(59_999);
    await expect(vault.resolve(id, 'agent-a', 'api.github.com')).resolves.toMatchObject({ name: 'GITHUB_TOKEN' });
    advance(1);
    await expect(vault.resolve(id, 'agent-a', 'api.github.com')).rejects.toMatchObject({ code: 'EOS_CREDENTIAL_DENIED' });
    expect(events.slice(-2).map((e) => e.type)).toEqual(['vault.expire', 'vault.deny']);
    expect(events.at(-1)).toMatchObject({ reason: 'expired' });
  });

  it('sweeps expired grants', async () => {
    const { vault, events, advance } = await setup();
    await vault.grant('agent-a', 'GITHUB_TOKEN', { host: 'api.github.com', ttlMs: 1_000 });
    await vault.grant('agent-a', 'GITHUB_TOKEN', { host: 'api.github.com', ttlMs: 5_000 });
    advance(2_000);
    expect(await vault.sweepExpired()).toBe(1);
    expect(vault.activeGrantCount).toBe(1);
    expect(events.at(-1)).toMatchObject({ type: 'vault.expire' });
  });

  it('revokes one credential and all of an agent', async () => {
    const { vault, events } = await setup();
    const a1 = await vault.grant('agent-a', 'GITHUB_TOKEN', { host: 'api.github.com', ttlMs: 60_000 });
    const a2 = await vault.grant('agent-a', 'GITHUB_TOKEN', { host: 'uploads.github.com', ttlMs: 60_000 });
    const b1 = await vault.grant('agent-b', 'GITHUB_TOKEN', { host: 'api.github.com', ttlMs: 60_000 });
    expect(await vault.revoke(a1, 'operator')).toBe(true);
    expect(await vault.revoke(a1)).toBe(false);
    await expect(vault.resolve(a1, 'agent-a', 'api.github.com')).rejects.toMatchObject({ code: 'EOS_CREDENTIAL_DENIED' });
    expect(await vault.revokeAllFor('agent-a', 'quarantine')).toBe(1);
    await expect(vault.resolve(a2, 'agent-a', 'uploads.github.com')).rejects.toMatchObject({
      code: 'EOS_CREDENTIAL_DENIED',
    });
    await expect(vault.resolve(b1, 'agent-b', 'api.github.com')).resolves.toMatchObject({ name: 'GITHUB_TOKEN' });
    expect(events.filter((e) => e.type === 'vault.revoke').map((e) => (e.type === 'vault.revoke' ? e.reason : ''))).toEqual([
      'operator',
      'quarantine',
    ]);
  });

  it('fails closed when the audit sink fails', async () => {
    const { root, vault } = await setup();
    const failing = await Vault.open(join(root, 'vault'), join(root, 'keys', 'vault.key'), {
      logger,
      audit: () => Promise.reject(new Error('disk full')),
    });
    await expect(failing.grant('agent-a', 'GITHUB_TOKEN', { host: 'api.github.com', ttlMs: 1000 })).rejects.toThrow(
      'disk full',
    );
    expect(failing.activeGrantCount).toBe(0);
    expect(vault.list()).toEqual(['GITHUB_TOKEN']);
  });
});
