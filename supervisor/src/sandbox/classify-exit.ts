import { constants } from 'node:os';
import { CGROUP_JOIN_FAILED_EXIT_CODE } from './build-sandbox-command.js';

/** How an agent process ended. */
export type ExitKind = 'clean' | 'crash' | 'signal' | 'oom' | 'limit';

/** Input of {@link classifyExit}. Counter pairs come from `AgentCgroup.readUsage()` before spawn / after exit. */
export interface ExitFacts {
  /** Exit code from the `exit` event (for bwrap chains a signal death appears as 128+N). */
  code: number | null;
  /** Signal from the `exit` event (direct child only). */
  signal: NodeJS.Signals | null;
  /** Whether `code` comes from a wrapper that maps signal deaths to 128+N (bwrap, sh). */
  codeEncodesSignal?: boolean;
  oomKillsBefore?: number | null;
  oomKillsAfter?: number | null;
  pidsMaxEventsBefore?: number | null;
  pidsMaxEventsAfter?: number | null;
  /** The supervisor itself stopped the agent (stop path): SIGTERM/SIGKILL deaths are then clean. */
  stopRequested?: boolean;
}

/** Result of {@link classifyExit}. */
export interface ExitClassification {
  kind: ExitKind;
  /** Effective exit code (null for signal deaths). */
  code: number | null;
  /** Effective signal, also when decoded from 128+N. */
  signal: NodeJS.Signals | null;
  /** One-line human explanation, constant vocabulary. */
  detail: string;
}

const SIGNAL_BY_NUMBER = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

/** Signals the kernel sends when an rlimit is exceeded. */
const LIMIT_SIGNALS: ReadonlySet<NodeJS.Signals> = new Set(['SIGXCPU', 'SIGXFSZ']);

function delta(before: number | null | undefined, after: number | null | undefined): number {
  return before === null || before === undefined || after === null || after === undefined ? 0 : after - before;
}

/**
 * Classifies an agent exit. Order: OOM (the memcg `oom_kill` counter rose) beats everything, since
 * the OOM killer's SIGKILL looks like any other; then rlimit signals and a pids.max hit on a
 * non-clean exit count as `limit`; then a stop the supervisor requested is `clean`; then signal
 * deaths (decoded from 128+N when `codeEncodesSignal`); exit 0 is `clean`; any other code is `crash`.
 */
export function classifyExit(facts: ExitFacts): ExitClassification {
  let code = facts.code;
  let signal = facts.signal;
  if (signal === null && code !== null && facts.codeEncodesSignal === true && code > 128 && code < 128 + 65) {
    const decoded = SIGNAL_BY_NUMBER.get(code - 128);
    if (decoded !== undefined) {
      signal = decoded;
      code = null;
    }
  }
  const oom = delta(facts.oomKillsBefore, facts.oomKillsAfter);
  if (oom > 0) {
    return { kind: 'oom', code, signal, detail: `killed by the cgroup OOM killer (${oom} oom_kill event(s))` };
  }
  if (signal !== null && LIMIT_SIGNALS.has(signal)) {
    return { kind: 'limit', code, signal, detail: `killed by ${signal}: a resource rlimit was exceeded` };
  }
  const clean = code === 0 && signal === null;
  if (!clean && delta(facts.pidsMaxEventsBefore, facts.pidsMaxEventsAfter) > 0) {
    return { kind: 'limit', code, signal, detail: 'exited after hitting the pids.max task limit' };
  }
  if (facts.stopRequested === true && (clean || signal === 'SIGTERM' || signal === 'SIGKILL')) {
    return { kind: 'clean', code, signal, detail: 'stopped by the supervisor' };
  }
  if (signal !== null) {
    return { kind: 'signal', code, signal, detail: `killed by ${signal}` };
  }
  if (clean) {
    return { kind: 'clean', code, signal, detail: 'exited with code 0' };
  }
  if (code === CGROUP_JOIN_FAILED_EXIT_CODE) {
    return { kind: 'crash', code, signal, detail: 'sandbox wrapper failed (cgroup join or rlimit, exit 111)' };
  }
  return { kind: 'crash', code, signal, detail: `exited with code ${String(code)}` };
}
