import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseBpftraceLine, parseRecord } from '../src/parse-bpftrace-record.js';

const lines = readFileSync(new URL('./fixtures/bpftrace-output.jsonl', import.meta.url), 'utf8').split('\n');

describe('parseBpftraceLine', () => {
  it('classifies real bpftrace -f json output', () => {
    const got = lines.map(parseBpftraceLine);
    expect(got[0]).toEqual({ type: 'attached', probes: 38 });
    expect(got[1]).toEqual({ type: 'ready', uidMin: 61000, uidMax: 62000 });
    expect(got[2]).toMatchObject({ type: 'event', event: { kind: 'exec', uid: 61042, cgroupId: '44', comm: 'setpriv', path: '/usr/bin/python3', ppid: 14217 } });
    expect(got[3]).toMatchObject({ type: 'event', event: { kind: 'connect', family: 2, addr: '127.0.0.1', port: 9, comm: 'python3' } });
    expect(got[5]).toEqual({ type: 'lost', events: 17 });
    expect(got[6]).toEqual({ type: 'ignored' });
  });

  it('keeps a hostile comm (quotes, escaped TAB and newline) inside its own field', () => {
    const r = parseBpftraceLine(lines[4]!);
    expect(r).toMatchObject({ type: 'event', event: { kind: 'exec', comm: 'ev"il\\x0a{\\x09}\\x', path: '/bin/true', pid: 10380 } });
  });

  it('rejects lines that are not JSON or do not match the record grammar', () => {
    expect(parseBpftraceLine('not json').type).toBe('invalid');
    expect(parseBpftraceLine('{"type":"printf","data":"exec\\t1\\t2\\n"}').type).toBe('invalid');
    expect(parseBpftraceLine('{"type":"printf","data":"exec\\t1\\t2\\t3\\t4\\tx\\t5\\t6\\tc\\t/bin/sh\\n"}').type).toBe('invalid');
  });
});

describe('parseRecord', () => {
  const p = (s: string): ReturnType<typeof parseRecord> => parseRecord(s.replaceAll(' ', '\t'));
  it('parses every record kind of eosd-watch.bt', () => {
    expect(p('tcp_syn 1 2 2 1 61042 61042 44 py 10 ::1 9')).toMatchObject({ kind: 'tcp_syn', family: 10, addr: '::1', port: 9 });
    expect(p('connect 1 2 2 1 61042 61042 44 py 1 /tmp/x.sock\\x00garbage 0')).toMatchObject({ family: 1, path: '/tmp/x.sock' });
    expect(p('open 1 2 2 1 61042 61042 44 py 524288 /etc/shadow')).toMatchObject({ kind: 'open', flags: 524288, path: '/etc/shadow' });
    expect(p('ptrace 1 2 2 1 61042 61042 44 py 16 1')).toMatchObject({ kind: 'ptrace', request: 16, targetPid: 1 });
    expect(p('setid 1 2 2 1 61042 61042 44 py tracepoint:syscalls:sys_enter_setuid 0 -1 -1')).toMatchObject({ syscall: 'setuid', idArgs: [0, -1, -1] });
    expect(p('setid_ok 1 2 2 1 61042 61042 44 py tracepoint:syscalls:sys_exit_setresuid')).toMatchObject({ kind: 'setid_ok', syscall: 'setresuid' });
    expect(p('priv 1 2 2 1 61042 61042 44 py tracepoint:syscalls:sys_enter_unshare')).toMatchObject({ kind: 'priv', syscall: 'unshare' });
  });
  it('rejects unknown kinds, bad ports and extra fields', () => {
    expect(p('kill 1 2 2 1 61042 61042 44 py 9')).toBeNull();
    expect(p('connect 1 2 2 1 61042 61042 44 py 2 1.2.3.4 70000')).toBeNull();
    expect(p('ptrace 1 2 2 1 61042 61042 44 py 16 1 extra')).toBeNull();
  });
});
