import { describe, expect, it } from 'vitest';
import { REDACTION_MARKER, SecretScanner } from '../src/security/vault/secret-scanner.js';

const SECRET = 'sk-live_4f9a/b+c=d e&f?x>>>';
const scanner = SecretScanner.create([['API_KEY', Buffer.from(SECRET)]]);

function b64AtOffset(prefix: string): string {
  return Buffer.from(`${prefix}${SECRET}`).toString('base64');
}

describe('SecretScanner', () => {
  it.each([
    ['raw', `x=${SECRET};`],
    ['base64', `token ${Buffer.from(SECRET).toString('base64')} end`],
    ['base64url', `t=${Buffer.from(SECRET).toString('base64url')}`],
    ['hex', `h:${Buffer.from(SECRET).toString('hex')}`],
    ['hex-upper', `h:${Buffer.from(SECRET).toString('hex').toUpperCase()}`],
    ['url-encoded', `q=${encodeURIComponent(SECRET)}&a=1`],
    ['form-encoded', `q=${encodeURIComponent(SECRET).replaceAll('%20', '+')}`],
    ['percent-encoded', `q=${[...Buffer.from(SECRET)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`],
  ])('finds and redacts the %s form', (form, text) => {
    const findings = scanner.scan(text);
    expect(findings.map((f) => f.form)).toContain(form);
    expect(findings.every((f) => f.name === 'API_KEY')).toBe(true);
    const { output } = scanner.redactString(text);
    expect(output).toContain(REDACTION_MARKER);
    expect(scanner.containsSecret(output)).toBe(false);
  });

  it.each(['u:', 'us:', 'use:'])('finds base64 of the secret embedded after %j (any alignment)', (prefix) => {
    const text = `Authorization: Basic ${b64AtOffset(prefix)}`;
    expect(scanner.scan(text).map((f) => f.form)).toContain('base64');
    expect(scanner.containsSecret(scanner.redactString(text).output)).toBe(false);
  });

  it('redacts bytes, keeps the rest, merges overlapping matches', () => {
    const input = Buffer.concat([Buffer.from('head '), Buffer.from(SECRET), Buffer.from(SECRET), Buffer.from(' tail')]);
    const { output, findings } = scanner.redactBytes(input);
    expect(output.toString()).toBe(`head ${REDACTION_MARKER} tail`);
    expect(findings.length).toBeGreaterThanOrEqual(2);
  });

  it('leaves text without secrets untouched and near-misses alone', () => {
    const text = `almost ${SECRET.slice(0, -1)} but not quite`;
    expect(scanner.scan(text)).toEqual([]);
    expect(scanner.redactString(text).output).toBe(text);
  });

  it('handles many secrets and binary secrets', () => {
    const secrets: [string, Buffer][] = Array.from({ length: 50 }, (_, i) => [`S${i}`, Buffer.from(`secret-value-${i}-${'z'.repeat(i)}`)]);
    secrets.push(['BIN', Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255])]);
    const many = SecretScanner.create(secrets);
    const text = `a ${secrets[42]?.[1].toString('base64')} b ${Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255]).toString('hex')}`;
    expect(new Set(many.scan(text).map((f) => f.name))).toEqual(new Set(['S42', 'BIN']));
  });

  it('scans in linear time (1 MiB of near-misses stays fast)', () => {
    const text = Buffer.from(SECRET.slice(0, -1).repeat(Math.ceil((1 << 20) / SECRET.length)));
    const t0 = performance.now();
    expect(scanner.scan(text)).toEqual([]);
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('an empty scanner finds nothing', () => {
    expect(SecretScanner.create([]).redactString('anything').findings).toEqual([]);
  });
});
