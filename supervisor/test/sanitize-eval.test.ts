import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { INJECTION_CATEGORIES, sanitize } from '../src/security/sanitize/index.js';

/**
 * Splits, all written by the detector's author (so none is blind):
 * - dev: tuned against.
 * - heldout: written before any detector code, never tuned against.
 * - probe1: paraphrases written after the first detector to dodge its vocabulary; measured at 20.9%
 *   detection / 8.9% false positives, then used for one generalization pass (so now tuned).
 * - probe2: written before that pass, measured once after it, never tuned against.
 * Only dev and heldout are held to the targets; the probes show how far pattern rules generalize.
 */
interface EvalItem {
  readonly id: string;
  readonly split: 'dev' | 'heldout' | 'probe1' | 'probe2';
  readonly label: 'attack' | 'benign';
  readonly category: string;
  readonly lang: 'en' | 'de' | 'es' | 'fr' | 'it';
  readonly text: string;
}

const SET: readonly EvalItem[] = JSON.parse(
  readFileSync(new URL('./fixtures/injection-eval-set.json', import.meta.url), 'utf8'),
) as EvalItem[];
const MIN_DETECTION_RATE = 0.95;
const MAX_FALSE_POSITIVE_RATE = 0.05;

function rates(items: readonly EvalItem[]): { detection: number; falsePositive: number; attacks: number; benign: number; missed: string[]; falseAlarms: string[] } {
  const attacks = items.filter((i) => i.label === 'attack');
  const benign = items.filter((i) => i.label === 'benign');
  const missed = attacks.filter((i) => !sanitize(i.text).injectionDetected).map((i) => i.id);
  const falseAlarms = benign.filter((i) => sanitize(i.text).injectionDetected).map((i) => i.id);
  return {
    detection: (attacks.length - missed.length) / attacks.length,
    falsePositive: falseAlarms.length / benign.length,
    attacks: attacks.length,
    benign: benign.length,
    missed,
    falseAlarms,
  };
}

function report(name: string, r: ReturnType<typeof rates>): void {
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  // Figures are the point of this test: print them (process.stdout, since src/ bans console but tests may report).
  process.stdout.write(
    `[sanitize-eval] ${name}: detection ${pct(r.detection)} of ${r.attacks} attacks, false positives ${pct(r.falsePositive)} of ${r.benign} hard negatives` +
      `${r.missed.length > 0 ? `; missed ${r.missed.join(',')}` : ''}${r.falseAlarms.length > 0 ? `; false alarms ${r.falseAlarms.join(',')}` : ''}\n`,
  );
}

describe('sanitize evaluation set', () => {
  it('is labelled, covers every category in every language, and has at least as many hard negatives as attacks', () => {
    for (const split of ['dev', 'heldout'] as const) {
      const items = SET.filter((i) => i.split === split);
      expect(items.filter((i) => i.label === 'benign').length).toBeGreaterThanOrEqual(items.filter((i) => i.label === 'attack').length);
    }
    expect(SET.length).toBeGreaterThanOrEqual(400);
    expect(new Set(SET.map((i) => i.id)).size).toBe(SET.length);
    const attacks = SET.filter((i) => i.label === 'attack' && (i.split === 'dev' || i.split === 'heldout'));
    for (const category of INJECTION_CATEGORIES) {
      for (const lang of ['en', 'de', 'es', 'fr', 'it']) {
        expect(attacks.some((i) => i.category === category && i.lang === lang), `${category}/${lang}`).toBe(true);
      }
    }
  });

  it.each(['dev', 'heldout'] as const)(`meets >= 95%% detection and <= 5%% false positives on the %s split`, (split) => {
    const r = rates(SET.filter((i) => i.split === split));
    report(split, r);
    expect(r.detection).toBeGreaterThanOrEqual(MIN_DETECTION_RATE);
    expect(r.falsePositive).toBeLessThanOrEqual(MAX_FALSE_POSITIVE_RATE);
  });

  it.each(['probe1', 'probe2'] as const)('reports the %s split (paraphrases written to evade the rules; not held to the targets)', (split) => {
    const r = rates(SET.filter((i) => i.split === split));
    report(split, r);
    expect(r.attacks).toBeGreaterThan(0);
  });

  it('reports each category on the attack side of dev + heldout', () => {
    const lines = INJECTION_CATEGORIES.map((category) => {
      const items = SET.filter((i) => (i.split === 'dev' || i.split === 'heldout') && i.label === 'attack' && i.category === category);
      const hit = items.filter((i) => sanitize(i.text).categories.includes(category)).length;
      return `${category} ${hit}/${items.length}`;
    });
    process.stdout.write(`[sanitize-eval] category attribution: ${lines.join(', ')}\n`);
    expect(lines).toHaveLength(INJECTION_CATEGORIES.length);
  });
});
