#!/usr/bin/env node
// The claim gate: `node scripts/claim-gate.mjs <vitest-json-report> [doc.md ...]`.
// Every table row of docs/STRIDE.md and docs/CONTROLS.md whose status cell is `resolved` or
// `implemented` is a claim. A claim must cite at least one test as
//   `path/to/file.test.ts > describe name > test name`   (backticks; nested describes joined by " > ")
// and every cited test must be in the report of THIS run with status "passed". Missing, skipped or
// failed tests fail the gate. Rows with another status (`open`, `partial`, `accepted`) are not claims;
// the tests they cite must still exist in the report (a stale citation is an error everywhere).
// Prints one line per problem and a summary line; exits 1 on any problem.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_DOCS = ['docs/STRIDE.md', 'docs/CONTROLS.md'];
const CLAIM_STATUSES = new Set(['resolved', 'implemented']);
const TEST_ID = /`([^`]+?\.test\.ts(?: > [^`]+)+)`/g;

/** Test id → status, from a vitest JSON report (jest-compatible shape). */
export function readReport(path) {
  const report = JSON.parse(readFileSync(path, 'utf8'));
  const tests = new Map();
  for (const file of report.testResults ?? []) {
    const rel = relative(ROOT, isAbsolute(file.name) ? file.name : resolve(ROOT, file.name));
    for (const a of file.assertionResults ?? []) {
      tests.set([rel, ...a.ancestorTitles, a.title].join(' > '), a.status);
    }
  }
  return tests;
}

/** The rows of every markdown table in `text` that has a `status` column, with their cited test ids. */
export function readClaims(text, doc) {
  const rows = [];
  let header;
  text.split('\n').forEach((line, i) => {
    if (!line.startsWith('|')) {
      header = undefined;
      return;
    }
    const cells = line
      .slice(1, line.trimEnd().endsWith('|') ? line.trimEnd().length - 1 : undefined)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim());
    if (header === undefined) {
      header = cells.map((c) => c.toLowerCase());
      return;
    }
    if (cells.every((c) => /^:?-+:?$/.test(c))) {
      return;
    }
    const statusCol = header.indexOf('status');
    if (statusCol === -1) {
      return;
    }
    const status = (cells[statusCol] ?? '').replace(/[*`]/g, '').toLowerCase();
    const tests = [...line.matchAll(TEST_ID)].map((m) => m[1].replace(/\\\|/g, '|'));
    rows.push({ doc, line: i + 1, id: cells[0], status, tests });
  });
  return rows;
}

/** Problems of one claim set against one report. */
export function checkClaims(rows, tests) {
  const problems = [];
  let claims = 0;
  let cited = 0;
  for (const r of rows) {
    const isClaim = CLAIM_STATUSES.has(r.status);
    claims += isClaim ? 1 : 0;
    if (isClaim && r.tests.length === 0) {
      problems.push(`${r.doc}:${r.line} ${r.id}: marked ${r.status} but names no test`);
    }
    for (const t of r.tests) {
      cited++;
      const status = tests.get(t);
      if (status === undefined) {
        problems.push(`${r.doc}:${r.line} ${r.id}: cites a test that is not in this run's report: ${t}`);
      } else if (isClaim && status !== 'passed') {
        problems.push(`${r.doc}:${r.line} ${r.id}: marked ${r.status} but its test ${status}: ${t}`);
      }
    }
  }
  return { problems, claims, cited };
}

function main(argv) {
  const [reportPath, ...docs] = argv;
  if (reportPath === undefined || !existsSync(reportPath)) {
    process.stdout.write(`claim gate: FAILED (no test report at ${reportPath ?? '(none given)'})\n`);
    return 1;
  }
  const tests = readReport(reportPath);
  const rows = (docs.length > 0 ? docs : DEFAULT_DOCS).flatMap((d) => readClaims(readFileSync(resolve(ROOT, d), 'utf8'), d));
  const { problems, claims, cited } = checkClaims(rows, tests);
  for (const p of problems) {
    process.stdout.write(`claim gate: ${p}\n`);
  }
  process.stdout.write(
    problems.length === 0
      ? `claim gate: ok (${claims} claims, ${cited} test citations, all passed in this run)\n`
      : `claim gate: FAILED (${problems.length} problem(s) in ${claims} claims)\n`,
  );
  return problems.length === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
