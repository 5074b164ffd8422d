import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tmpDir } from './helpers/daemon.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const GATE = join(ROOT, 'scripts', 'claim-gate.mjs');
const run = promisify(execFile);

/** Runs the real gate on a report and a doc written to a temp dir; returns its exit code and output. */
async function gate(statuses: Record<string, string>, doc: string): Promise<{ code: number; out: string }> {
  const dir = await tmpDir();
  const report = {
    testResults: [
      {
        name: join(ROOT, 'pkg/test/a.test.ts'),
        assertionResults: Object.entries(statuses).map(([title, status]) => ({ ancestorTitles: ['suite'], title, status })),
      },
    ],
  };
  await writeFile(join(dir, 'report.json'), JSON.stringify(report));
  await writeFile(join(dir, 'doc.md'), doc);
  try {
    const { stdout } = await run(process.execPath, [GATE, join(dir, 'report.json'), join(dir, 'doc.md')]);
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, out: e.stdout };
  }
}

const table = (rows: string[]): string => ['| id | claim | status | tests |', '|---|---|---|---|', ...rows].join('\n');
const cite = (t: string): string => `\`pkg/test/a.test.ts > suite > ${t}\``;

describe('claim gate', () => {
  it('passes when every resolved row cites tests that passed in the report', async () => {
    const r = await gate({ works: 'passed', also: 'passed' }, table([`| S-1 | x | resolved | ${cite('works')}, ${cite('also')} |`, '| S-2 | y | open | none yet |']));
    expect(r).toEqual({ code: 0, out: 'claim gate: ok (1 claims, 2 test citations, all passed in this run)\n' });
  });

  it('fails a resolved row whose test failed, was skipped, or is missing from the run', async () => {
    for (const [status, word] of [['failed', 'failed'], ['skipped', 'skipped'], ['pending', 'pending']] as const) {
      const r = await gate({ works: status }, table([`| S-1 | x | resolved | ${cite('works')} |`]));
      expect(r.code).toBe(1);
      expect(r.out).toContain(`S-1: marked resolved but its test ${word}: pkg/test/a.test.ts > suite > works`);
    }
    const missing = await gate({ works: 'passed' }, table([`| C-1 | x | implemented | ${cite('renamed')} |`]));
    expect(missing.code).toBe(1);
    expect(missing.out).toContain("C-1: cites a test that is not in this run's report: pkg/test/a.test.ts > suite > renamed");
  });

  it('fails a resolved row that names no test, and a stale citation on an open row', async () => {
    const r = await gate({ works: 'passed' }, table(['| E-2 | x | resolved | trust me |', `| E-3 | y | open | ${cite('gone')} |`]));
    expect(r.code).toBe(1);
    expect(r.out).toContain('E-2: marked resolved but names no test');
    expect(r.out).toContain("E-3: cites a test that is not in this run's report");
    expect(r.out).toMatch(/claim gate: FAILED \(2 problem\(s\) in 1 claims\)\n$/);
  });

  it('fails without a report', async () => {
    await expect(run(process.execPath, [GATE, '/nonexistent/report.json'])).rejects.toMatchObject({ code: 1, stdout: expect.stringContaining('no test report') });
  });
});
