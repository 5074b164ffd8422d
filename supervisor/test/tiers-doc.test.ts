import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TIER_CONTROLS } from '../src/agent/tier-policy.js';

const doc = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'guides', 'tiers.md'), 'utf8');

describe('docs/guides/tiers.md', () => {
  it('has one row per tier control, equal to TIER_CONTROLS', () => {
    const rows = new Map<string, string[]>();
    for (const m of doc.matchAll(/^\| `(\w+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \|/gm)) {
      rows.set(m[1] ?? '', [m[2], m[3], m[4]].map((c) => (c ?? '').trim()));
    }
    const fromCode = new Map(
      Object.keys(TIER_CONTROLS.low).map((k) => [k, (['low', 'medium', 'high'] as const).map((t) => String(TIER_CONTROLS[t][k as keyof typeof TIER_CONTROLS.low]))]),
    );
    expect(rows).toEqual(fromCode);
  });
});
