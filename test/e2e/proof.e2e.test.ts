import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LAYERS = ['containment', 'call-auth', 'acl', 'sanitizer', 'vault-egress', 'ssrf', 'llm-gateway', 'approval', 'ledger', 'ebpf'];

/** The proof needs root (per-agent uids, the full sandbox of its HIGH agent); under CI=true its absence fails. */
function skipReason(): string | undefined {
  if (process.getuid?.() === 0) {
    return undefined;
  }
  if (process.env.CI === 'true') {
    throw new Error('the e2e proof must run as root under CI=true');
  }
  return 'not root: the e2e proof needs per-agent uids and the full sandbox';
}

const reason = skipReason();

describe('pnpm e2e:proof', () => {
  it.skipIf(reason !== undefined)('walks every security layer of the built daemon and passes each one', { timeout: 180_000 }, async () => {
    const child = spawn(process.execPath, [join(ROOT, 'scripts', 'e2e-proof.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const [code] = (await once(child, 'exit')) as [number | null];
    const lines = stdout.split('\n').filter((l) => l !== '');
    expect(code, `${stdout}\n${stderr.slice(-4000)}`).toBe(0);
    for (const layer of LAYERS) {
      expect(lines.filter((l) => new RegExp(`^PASS ${layer} `).test(l)), layer).toHaveLength(1);
    }
    expect(lines.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(lines.at(-1)).toMatch(/^proof: ok \(\d+ layers passed, 0 skipped\)$/);
  });
});

describe('pnpm e2e:proof on failure', () => {
  it.skipIf(reason !== undefined)('exits non-zero and names the stage that broke', { timeout: 60_000 }, async () => {
    // Occupy the proof's egress-target port: its setup cannot complete.
    const blocker = createServer();
    blocker.listen(47391, '127.0.0.1');
    await once(blocker, 'listening');
    try {
      const child = spawn(process.execPath, [join(ROOT, 'scripts', 'e2e-proof.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.resume();
      const [code] = (await once(child, 'exit')) as [number | null];
      const lines = stdout.split('\n').filter((l) => l !== '');
      expect(code).toBe(1);
      expect(lines[0]).toMatch(/^FAIL setup +egress target 127\.0\.0\.1:47391: .*EADDRINUSE/);
      expect(lines.filter((l) => l.startsWith('PASS'))).toEqual([]);
      expect(lines.at(-1)).toMatch(/^proof: FAILED \(broken: setup, containment, /);
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });
});
