import { describe, expect, it } from 'vitest';
import { classifyExit } from '../src/sandbox/classify-exit.js';

describe('classifyExit', () => {
  it('calls exit 0 clean', () => {
    expect(classifyExit({ code: 0, signal: null })).toMatchObject({ kind: 'clean', code: 0 });
  });

  it('calls a non-zero code a crash with that code', () => {
    expect(classifyExit({ code: 3, signal: null })).toMatchObject({ kind: 'crash', code: 3, detail: 'exited with code 3' });
  });

  it('reports a direct signal death as signal', () => {
    expect(classifyExit({ code: null, signal: 'SIGSEGV' })).toMatchObject({ kind: 'signal', signal: 'SIGSEGV' });
  });

  it('decodes 128+N from a bwrap chain into the signal', () => {
    expect(classifyExit({ code: 139, signal: null, codeEncodesSignal: true })).toMatchObject({ kind: 'signal', signal: 'SIGSEGV', code: null });
    expect(classifyExit({ code: 139, signal: null })).toMatchObject({ kind: 'crash', code: 139 });
  });

  it('labels a SIGKILL as oom when the oom_kill counter rose', () => {
    expect(classifyExit({ code: 137, signal: null, codeEncodesSignal: true, oomKillsBefore: 2, oomKillsAfter: 3 })).toMatchObject({
      kind: 'oom',
      signal: 'SIGKILL',
    });
    expect(classifyExit({ code: 137, signal: null, codeEncodesSignal: true, oomKillsBefore: 3, oomKillsAfter: 3 })).toMatchObject({ kind: 'signal' });
  });

  it('prefers oom over a requested stop', () => {
    expect(classifyExit({ code: null, signal: 'SIGKILL', oomKillsBefore: 0, oomKillsAfter: 1, stopRequested: true }).kind).toBe('oom');
  });

  it('labels rlimit signals and a pids.max hit as limit', () => {
    expect(classifyExit({ code: null, signal: 'SIGXCPU' }).kind).toBe('limit');
    expect(classifyExit({ code: 2, signal: null, pidsMaxEventsBefore: 0, pidsMaxEventsAfter: 5 })).toMatchObject({ kind: 'limit', detail: 'exited after hitting the pids.max task limit' });
    expect(classifyExit({ code: 0, signal: null, pidsMaxEventsBefore: 0, pidsMaxEventsAfter: 5 }).kind).toBe('clean');
  });

  it('treats SIGTERM/SIGKILL after a requested stop as clean', () => {
    expect(classifyExit({ code: null, signal: 'SIGTERM', stopRequested: true })).toMatchObject({ kind: 'clean', detail: 'stopped by the supervisor' });
    expect(classifyExit({ code: null, signal: 'SIGSEGV', stopRequested: true }).kind).toBe('signal');
  });

  it('names the wrapper failure exit code', () => {
    expect(classifyExit({ code: 111, signal: null }).detail).toContain('cgroup join');
  });
});
