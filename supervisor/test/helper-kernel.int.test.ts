import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, rmdir } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { HelperEventValidator, type SocAlert, type SocPublication } from '../src/helper/helper-event-validator.js';
import { startHelper } from '../src/helper/start-helper.js';

// Proves the kernel source end to end: a real bpftrace under the helper's real capability set
// sees an exec and a connect by an agent uid and attributes them by uid and cgroup, and a uid
// outside the agent range is not reported. Needs root and bpftrace: under CI=true their absence
// fails the test; elsewhere it is skipped with the reason.
const HELPER_BIN = fileURLToPath(new URL('../../ebpf-helper/dist/bin/ebpf-helper.js', import.meta.url));
const BPFTRACE = '/usr/bin/bpftrace';
const AGENT_UID = 61050;
const OTHER_UID = 62050;
const KERNEL_CAPS_HEX = '000000c000200000'; // CAP_SYS_ADMIN (21) | CAP_PERFMON (38) | CAP_BPF (39)

function missing(): string | null {
  if (process.getuid?.() !== 0) {
    return 'kernel mode needs root';
  }
  if (!existsSync(BPFTRACE)) {
    return `bpftrace is not installed (${BPFTRACE}); apt-get install bpftrace`;
  }
  if (!existsSync(HELPER_BIN)) {
    return 'ebpf-helper is not built (run npx tsc -b)';
  }
  return null;
}
const reason = missing();
if (reason !== null && process.env['CI'] === 'true') {
  throw new Error(`kernel-mode test cannot run under CI: ${reason}`);
}

function cgroup2Root(): string {
  const line = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .find((l) => l.split(' - ')[1]?.startsWith('cgroup2 '));
  if (line === undefined) {
    throw new Error('no cgroup2 mount');
  }
  return line.split(' ')[4]!;
}

async function runAs(cg: string, uid: number, argv: string[]): Promise<void> {
  const p = spawn(
    '/bin/sh',
    ['-c', 'cg=$0; u=$1; shift; echo $$ > "$cg/cgroup.procs" && exec setpriv --reuid="$u" --regid="$u" --clear-groups --no-new-privs -- "$@"', cg, String(uid), ...argv],
    { stdio: 'ignore' },
  );
  await once(p, 'exit');
}

const status = (pid: number, field: string): string | undefined =>
  readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`))?.split(/\s+/)[1];

describe('startHelper (kernel mode, bpftrace)', () => {
  it.skipIf(reason !== null)(
    'sees and attributes an exec and a connect by an agent uid, not a non-agent uid, with only CAP_BPF+CAP_PERFMON+CAP_SYS_ADMIN',
    async () => {
      const dir = await mkdtemp('/tmp/eosd-');
      onTestFinished(() => rm(dir, { recursive: true, force: true }));
      await chmod(dir, 0o711);
      const cg = join(cgroup2Root(), `eosd-ci-${process.pid}`);
      await mkdir(cg);
      onTestFinished(() => rmdir(cg));
      const cgroupId = String(statSync(cg).ino);

      const published: SocPublication[] = [];
      const audits: { event: string; fields: Record<string, unknown> }[] = [];
      const validator = new HelperEventValidator({
        logger: pino({ level: 'silent' }),
        feedKey: async () => null,
        audit: (event, fields) => audits.push({ event, fields }),
        uidRange: { min: 61000, max: 62000 },
        agentForUid: (uid) => (uid === AGENT_UID ? { agentId: 'ci-agent', cgroupId } : undefined),
        launcherPids: () => new Set([process.pid]),
      });
      const helper = await startHelper(
        {
          mode: 'kernel',
          socketPath: join(dir, 'ebpf.sock'),
          helperEntry: HELPER_BIN,
          nodePath: process.execPath,
          kernel: { uidMin: 61000, uidMax: 62000 },
          healthIntervalMs: 200,
        },
        { logger: pino({ level: 'silent' }), validator, onPublish: (p) => published.push(p), isRoot: true },
      );
      onTestFinished(() => helper.stop());
      await helper.whenConnected();
      await expect.poll(() => helper.counters().helper.backendState, { timeout: 40_000, interval: 100 }).toBe('armed');

      const helperPid = helper.pid!;
      expect(status(helperPid, 'CapEff')).toBe(KERNEL_CAPS_HEX);
      expect(status(helperPid, 'CapBnd')).toBe(KERNEL_CAPS_HEX);
      expect(status(helperPid, 'NoNewPrivs')).toBe('1');
      const bpftracePid = Number(execFileSync('pgrep', ['-P', String(helperPid), '-x', 'bpftrace'], { encoding: 'utf8' }).trim());
      expect(status(bpftracePid, 'CapEff')).toBe(KERNEL_CAPS_HEX);

      await runAs(cg, AGENT_UID, ['/bin/true']);
      await runAs(cg, AGENT_UID, [
        '/usr/bin/python3',
        '-c',
        'import socket\ns=socket.socket()\ns.settimeout(1)\ntry:\n  s.connect(("127.0.0.1", 9))\nexcept OSError:\n  pass',
      ]);
      await runAs(cg, OTHER_UID, ['/bin/true']);

      const alerts = (): SocAlert[] => published.filter((p) => p.channel.startsWith('soc.alert.')).map((p) => p.payload as SocAlert);
      await expect
        .poll(() => alerts().find((a) => a.kind === 'exec' && a.metadata['path'] === '/bin/true'), { timeout: 10_000 })
        .toMatchObject({ source: 'ebpf', agentId: 'ci-agent', severity: 'INFO', metadata: { uid: AGENT_UID, cgroupId } });
      await expect
        .poll(() => alerts().find((a) => a.kind === 'connect'), { timeout: 10_000 })
        .toMatchObject({ agentId: 'ci-agent', metadata: { addr: '127.0.0.1', port: 9, family: 2, uid: AGENT_UID, cgroupId } });
      await expect.poll(() => alerts().find((a) => a.kind === 'tcp_syn'), { timeout: 10_000 }).toMatchObject({ metadata: { port: 9 } });
      // the launcher's own setresuid/setgroups before its exec are launch noise, not alerts
      expect(alerts().filter((a) => a.kind === 'setid_ok')).toEqual([]);
      expect(helper.counters().launchNoiseSuppressed).toBeGreaterThan(0);
      // the non-agent uid never reached userspace: nothing attributed, nothing rejected for it
      await expect.poll(() => helper.counters().helper.received, { timeout: 5000 }).toBeGreaterThan(0);
      expect(alerts().filter((a) => a.metadata['uid'] === OTHER_UID)).toEqual([]);
      expect(audits.filter((a) => a.fields['uid'] === OTHER_UID)).toEqual([]);
      expect(alerts().filter((a) => a.agentId !== 'ci-agent' && a.source === 'ebpf')).toEqual([]);
      expect(helper.counters().helper.lostKernel).toBe(0);
      await helper.stop();
      expect(existsSync(`/proc/${bpftracePid}`)).toBe(false);
      expect(await readFile(join(cg, 'cgroup.procs'), 'utf8')).toBe('');
    },
    90_000,
  );
});
