import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { assertSandboxAllowed, doctorReport, planSandbox, REQUIRED_LAYERS, type SandboxProbe } from '../src/sandbox/probe-sandbox.js';

function capture(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

const FULL: SandboxProbe = {
  isRoot: true,
  seccompArch: 'x86_64',
  kernelSeccomp: true,
  setprivPath: '/usr/bin/setpriv',
  bwrap: { path: '/usr/bin/bwrap', version: '0.8.0' },
  usernsUsable: true,
  usernsDetail: 'ok',
  cgroups: {
    v2Root: '/sys/fs/cgroup/unified',
    v2Controllers: [],
    v2Kill: true,
    v1: { memory: '/sys/fs/cgroup/memory', pids: '/sys/fs/cgroup/pids', cpu: '/sys/fs/cgroup/cpu' },
    controllers: { memory: 'v1', pids: 'v1', cpu: 'v1' },
  },
  nodePermissions: true,
  homeImage: true,
};

describe('planSandbox', () => {
  it('picks modes in the fixed fallback order', () => {
    const { logger } = capture();
    const mode = (p: Partial<SandboxProbe>): string => planSandbox({ ...FULL, ...p }, { logger }).mode;
    expect(mode({})).toBe('userns');
    expect(mode({ usernsUsable: false })).toBe('root-bwrap');
    expect(mode({ usernsUsable: false, seccompArch: null })).toBe('uid-only');
    expect(mode({ bwrap: null })).toBe('uid-only');
    expect(mode({ isRoot: false })).toBe('rootless-bwrap');
    expect(mode({ isRoot: false, usernsUsable: false })).toBe('process');
    expect(mode({ setprivPath: null, bwrap: null })).toBe('process');
  });

  it('reports a full sandbox with every required layer active', () => {
    const { logger, lines } = capture();
    const plan = planSandbox(FULL, { logger });
    expect(plan.missing).toEqual([]);
    expect(lines.filter((l) => l.level === 40)).toEqual([]);
    const report = doctorReport(plan);
    expect(report.full).toBe(true);
    for (const l of ['uid', 'no_new_privs', 'netns', 'pidns', 'mntns', 'seccomp', 'cgroup_memory', 'cgroup_pids', 'cgroup_cpu', 'node_permissions'] as const) {
      expect(report.layers[l]).toMatchObject({ active: true, detail: expect.any(String) });
    }
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it('logs every missing required layer at warn', () => {
    const { logger, lines } = capture();
    const plan = planSandbox({ ...FULL, bwrap: null, cgroups: null }, { logger });
    expect(plan.mode).toBe('uid-only');
    const warned = lines.filter((l) => l.level === 40 && l.msg === 'sandbox layer unavailable').map((l) => l.layer);
    expect(warned).toEqual(plan.missing);
    expect(warned).toEqual(expect.arrayContaining(['netns', 'pidns', 'mntns', 'seccomp', 'cgroup_memory', 'cgroup_pids', 'cgroup_cpu']));
    expect(REQUIRED_LAYERS).toEqual(expect.arrayContaining(warned as string[]));
  });

  it('refuses a HIGH-tier agent without the full sandbox unless overridden', () => {
    const { logger, lines } = capture();
    const degraded = planSandbox({ ...FULL, usernsUsable: false, seccompArch: null }, { logger });
    expect(() => assertSandboxAllowed(degraded, { id: 'a', tier: 'HIGH' }, { allowDegradedHighTier: false, logger })).toThrow(
      expect.objectContaining({ code: 'EOS_SANDBOX_UNAVAILABLE' }),
    );
    expect(() => assertSandboxAllowed(degraded, { id: 'a', tier: 'MEDIUM' }, { allowDegradedHighTier: false, logger })).not.toThrow();
    assertSandboxAllowed(degraded, { id: 'a', tier: 'HIGH' }, { allowDegradedHighTier: true, logger });
    expect(lines.at(-1)).toMatchObject({ level: 40, msg: 'high-tier agent runs in a degraded sandbox by operator override' });
    const full = planSandbox(FULL, { logger });
    expect(() => assertSandboxAllowed(full, { id: 'a', tier: 'HIGH' }, { allowDegradedHighTier: false, logger })).not.toThrow();
  });
});
