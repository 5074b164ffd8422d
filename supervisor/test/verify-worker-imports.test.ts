import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const LEDGER_SRC = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'ledger');

/** Every module specifier reachable from `entry` through relative imports (type-only imports skipped). */
function reachableImports(entry: string): { files: Set<string>; external: Set<string> } {
  const files = new Set<string>();
  const external = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) {
      return;
    }
    files.add(file);
    const text = readFileSync(join(LEDGER_SRC, file), 'utf8');
    for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?[^;]*?from\s+'([^']+)';/gms)) {
      const spec = m[2] as string;
      if (m[1] !== undefined) {
        continue;
      }
      if (spec.startsWith('./')) {
        visit(spec.slice(2).replace(/\.js$/, '.ts'));
      } else {
        external.add(spec);
      }
    }
  };
  visit(entry);
  return { files, external };
}

describe('ledger verify worker', () => {
  it('loads only node: built-ins (a package such as @everythingos/proto costs each worker ~0.2 s of CPU)', () => {
    const { files, external } = reachableImports('verify-worker.ts');
    expect(files.has('verify-chunk.ts')).toBe(true);
    expect(files.has('record-kinds.ts')).toBe(true);
    expect([...external].filter((s) => !s.startsWith('node:'))).toEqual([]);
  });
});
