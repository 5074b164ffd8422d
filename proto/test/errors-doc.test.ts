import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { ERROR_CODES } from '../src/errors.js';

const doc = readFileSync(new URL('../../docs/reference/errors.md', import.meta.url), 'utf8');
const rows = [...doc.matchAll(/^\| `(EOS_[A-Z_]+)` \| ([A-Z_]+) \| (yes|no) \|/gm)].map((m) => ({
  code: m[1]!,
  grpc: m[2]!,
  retryable: m[3] === 'yes',
}));

describe('docs/reference/errors.md', () => {
  it('documents every code in ERROR_CODES, with its gRPC status and retryability', () => {
    const documented = new Map(rows.map((r) => [r.code, r]));
    for (const [code, def] of Object.entries(ERROR_CODES)) {
      const row = documented.get(code);
      expect(row, `${code} is missing from errors.md`).toBeDefined();
      expect(row?.grpc, code).toBe(status[def.grpc]);
      expect(row?.retryable, code).toBe(def.retryable);
    }
  });

  it('documents no code that ERROR_CODES lacks, and none twice', () => {
    expect(rows.map((r) => r.code).filter((c) => !(c in ERROR_CODES))).toEqual([]);
    expect(new Set(rows.map((r) => r.code)).size).toBe(rows.length);
  });
});
