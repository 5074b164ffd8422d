import { describe, expect, it } from 'vitest';
import { buildSandboxCommand, type SandboxCommandSpec } from '../src/sandbox/build-sandbox-command.js';

function spec(over: Partial<SandboxCommandSpec> = {}): SandboxCommandSpec {
  return {
    mode: 'userns',
    tools: { sh: '/bin/sh', setpriv: '/usr/bin/setpriv', bwrap: '/usr/bin/bwrap' },
    uid: 61001,
    gid: 61001,
    cgroupProcsFiles: ['/sys/fs/cgroup/memory/eosd/a/cgroup.procs', '/sys/fs/cgroup/unified/eosd/a/cgroup.procs'],
    runtime: {
      nodePath: '/usr/bin/node',
      libDirs: ['/usr/lib/x86_64-linux-gnu', '/usr/lib64'],
      symlinks: [{ path: '/lib64', target: 'usr/lib64' }],
    },
    readOnlyPaths: [
      { host: '/srv/pkg', sandbox: '/app' },
      { host: '/srv/pkg-deps', sandbox: '/app/node_modules' },
      { host: '/srv/host', sandbox: '/opt/eosd/agent-host' },
    ],
    home: { host: '/var/lib/eosd/agents/a/home' },
    socketDir: { host: '/run/eosd/agents/a' },
    tmpfsSizeBytes: 64 << 20,
    seccomp: true,
    statusFd: true,
    keepFds: [3],
    env: { PATH: '/usr/bin', HOME: '/home/agent' },
    program: { kind: 'node', script: '/opt/eosd/agent-host/main.js', maxOldSpaceSizeMb: 192, permissions: true },
    ...over,
  };
}

function after(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

describe('buildSandboxCommand', () => {
  it('chains sh cgroup join -> setpriv -> bwrap -> node in mode userns', () => {
    const cmd = buildSandboxCommand(spec());
    expect(cmd.file).toBe('/bin/sh');
    expect(cmd.args.slice(2, 6)).toEqual(['eosd-cgjoin', '2', '/sys/fs/cgroup/memory/eosd/a/cgroup.procs', '/sys/fs/cgroup/unified/eosd/a/cgroup.procs']);
    const setpriv = cmd.args.indexOf('/usr/bin/setpriv');
    const bwrap = cmd.args.indexOf('/usr/bin/bwrap');
    const node = cmd.args.lastIndexOf('/usr/bin/node');
    expect(setpriv).toBeGreaterThan(5);
    expect(bwrap).toBeGreaterThan(setpriv);
    expect(node).toBeGreaterThan(bwrap);
    expect(cmd.args.slice(setpriv, setpriv + 9)).toEqual([
      '/usr/bin/setpriv', '--no-new-privs', '--reuid=61001', '--regid=61001', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--pdeathsig=KILL', '--',
    ]);
    for (const f of ['--unshare-all', '--unshare-user', '--disable-userns', '--die-with-parent', '--new-session', '--clearenv']) {
      expect(cmd.args).toContain(f);
    }
    expect(cmd.env).toEqual({ PATH: '/usr/bin:/bin' });
  });

  it('with cgroupGate: the root wrapper blocks on the gate fd before exec', () => {
    const cmd = buildSandboxCommand(spec({ cgroupProcsFiles: [], cgroupGate: true }));
    expect(cmd.fds).toEqual({ seccomp: 4, status: 5, gate: 6 });
    expect(cmd.stdioLength).toBe(7);
    expect(cmd.file).toBe('/bin/sh');
    const script = cmd.args[1] ?? '';
    expect(script).toContain('read -r eosd_gate <&6 && [ "$eosd_gate" = go ] || exit 111');
    expect(script.endsWith('exec "$@" 6<&-')).toBe(true);
    expect(script).not.toContain('cgroup.procs');
    expect(cmd.args.slice(2, 4)).toEqual(['eosd-gate', '/usr/bin/setpriv']);
  });

  it('refuses cgroupGate together with cgroupProcsFiles (one of them joins)', () => {
    expect(() => buildSandboxCommand(spec({ cgroupGate: true }))).toThrow(/exclude each other/);
  });

  it('places seccomp and status fds after the caller-kept fds', () => {
    const cmd = buildSandboxCommand(spec({ keepFds: [3, 4] }));
    expect(cmd.fds).toEqual({ seccomp: 5, status: 6, gate: null });
    expect(after(cmd.args, '--seccomp')).toBe('5');
    expect(after(cmd.args, '--json-status-fd')).toBe('6');
    expect(cmd.stdioLength).toBe(7);
  });

  it('repeats the node permission flags once per path and caps the heap', () => {
    const cmd = buildSandboxCommand(spec());
    const node = cmd.args.slice(cmd.args.lastIndexOf('/usr/bin/node'));
    expect(node).toEqual([
      '/usr/bin/node', '--experimental-permission', '--no-warnings',
      '--allow-fs-read=/app', '--allow-fs-read=/app/node_modules', '--allow-fs-read=/opt/eosd/agent-host', '--allow-fs-read=/home/agent', '--allow-fs-read=/tmp',
      '--allow-fs-write=/home/agent', '--allow-fs-write=/tmp',
      '--max-old-space-size=192', '/opt/eosd/agent-host/main.js',
    ]);
    expect(node.some((a) => a.includes(','))).toBe(false);
  });

  it('binds read-only parents before children, home rw, socket dir ro, a sized tmpfs', () => {
    const a = buildSandboxCommand(spec()).args;
    const pos = (x: string): number => a.findIndex((v, i) => v === x && (a[i - 2] === '--ro-bind' || a[i - 2] === '--bind'));
    expect(pos('/app')).toBeLessThan(pos('/app/node_modules'));
    expect(a[pos('/home/agent') - 2]).toBe('--bind');
    expect(a[pos('/run/eos') - 2]).toBe('--ro-bind');
    expect(a[pos('/run/eos') - 1]).toBe('/run/eosd/agents/a');
    expect(a.join(' ')).toContain(`--size ${64 << 20} --perms 1777 --tmpfs /tmp`);
    expect(a.join(' ')).toContain('--symlink usr/lib64 /lib64');
    for (const d of ['/home', '/run', '/opt', '/opt/eosd', '/usr', '/usr/bin', '/usr/lib']) {
      expect(a.join(' ')).toContain(`--perms 0755 --dir ${d} `);
    }
    expect(a.join(' ')).not.toContain('--dir /app ');
  });

  it('in mode root-bwrap runs setpriv inside bwrap without a user namespace', () => {
    const a = buildSandboxCommand(spec({ mode: 'root-bwrap' })).args;
    expect(a).not.toContain('--unshare-user');
    expect(a).not.toContain('--disable-userns');
    expect(a).toEqual(expect.arrayContaining(['--unshare-ipc', '--unshare-pid', '--unshare-net', '--unshare-uts', '--unshare-cgroup']));
    expect(a.indexOf('/usr/bin/setpriv')).toBeGreaterThan(a.indexOf('/usr/bin/bwrap'));
    expect(a.join(' ')).toContain('--ro-bind /usr/bin/setpriv /usr/bin/setpriv');
  });

  it('degrades to setpriv + node with host paths in mode uid-only', () => {
    const cmd = buildSandboxCommand(spec({ mode: 'uid-only', cgroupProcsFiles: [], rlimits: { addressSpaceKiB: 2 << 20, nproc: 64 } }));
    expect(cmd.file).toBe('/bin/sh');
    expect(cmd.args[1]).toContain('ulimit -v 2097152 || exit 111; ulimit -p 64 || exit 111;');
    expect(cmd.args).not.toContain('/usr/bin/bwrap');
    expect(cmd.args).toContain('--allow-fs-read=/srv/pkg');
    expect(cmd.args).toContain('--allow-fs-write=/var/lib/eosd/agents/a/home');
    expect(cmd.args.some((x) => x.includes('/tmp'))).toBe(false);
    expect(cmd.fds).toEqual({ seccomp: null, status: null, gate: null });
    expect(cmd.env).toEqual({ PATH: '/usr/bin', HOME: '/home/agent' });
  });

  it('runs node directly in mode process when there is nothing to join', () => {
    const cmd = buildSandboxCommand(spec({ mode: 'process', cgroupProcsFiles: [] }));
    expect(cmd.file).toBe('/usr/bin/node');
    expect(cmd.args[0]).toBe('--experimental-permission');
  });

  it('runs an arbitrary argv without the node layer for kind exec', () => {
    const a = buildSandboxCommand(spec({ program: { kind: 'exec', argv: ['/usr/bin/unshare', '-U', '/usr/bin/true'] } })).args;
    expect(a.slice(-3)).toEqual(['/usr/bin/unshare', '-U', '/usr/bin/true']);
    expect(a).not.toContain('--experimental-permission');
  });
});
