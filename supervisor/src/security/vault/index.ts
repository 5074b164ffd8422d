/**
 * @module security/vault
 *
 * The credential vault: secrets sealed at rest with NaCl secretbox under a 0400 key, handed to
 * agents only as scoped, short-lived `credentialId`s, and a scanner that finds every secret in
 * its common encodings so nothing returned to an agent can carry one.
 *
 * ```ts
 * const vault = await Vault.open('/var/lib/eosd/vault', '/var/lib/eosd/keys/vault.key', { audit, logger });
 * await vault.set('GITHUB_TOKEN', secretBytes);                     // eosd secrets set GITHUB_TOKEN
 * const id = await vault.grant('triage', 'GITHUB_TOKEN', { host: 'api.github.com', ttlMs: 600_000 });
 * const header = await vault.resolve(id, 'triage', 'api.github.com'); // egress guard only
 * const { output } = vault.scanner().redactString(text);
 * ```
 */
export {
  Vault,
  GrantOptions,
  MAX_CREDENTIAL_TTL_MS,
  MIN_SECRET_BYTES,
  MAX_SECRET_BYTES,
} from './vault.js';
export type {
  VaultDeps,
  VaultAuditEvent,
  VaultAuditSink,
  GrantOptionsInput,
  ResolvedCredential,
  CredentialDenyReason,
} from './vault.js';
export { SecretScanner, REDACTION_MARKER, MAX_FINDINGS } from './secret-scanner.js';
export type { SecretFinding, SecretForm, Redaction } from './secret-scanner.js';
export { VAULT_KEY_BYTES } from './key-file.js';
