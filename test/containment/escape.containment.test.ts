import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { fixtureAgent, isAlive, startDaemon } from '../e2e/helpers/daemon.js';
import { attempts, containmentSkipReason, writeIntoHomeImage } from './helpers.js';

const skip = containmentSkipReason();
const MiB = 1024 * 1024;
const TMP_CAP_MIB = 8;
const HOME_CAP_MIB = 16;
const CANARY = `eosd-canary-${createHash('sha256').update(String(Math.random())).digest('hex').slice(0, 16)}`;

const KERNEL_ATTEMPTS = [
  'enumerate_host_processes',
  'read_other_home',
  'read_other_home_file',
  'connect_other_socket',
  'read_other_environ',
  'read_other_mem',
  'signal_other_agent',
  'signal_supervisor',
  'read_etc_shadow',
  'read_supervisor_state',
  'read_supervisor_key_file',
  'read_supervisor_environ',
  'read_own_environment',
  'read_init_environ',
  'unlink_own_socket',
  'replace_own_socket',
  'tcp_host_loopback',
  'tcp_public_address',
  'create_user_namespace',
  'fill_tmp_past_cap',
  'fill_home_past_cap',
];

async function runBattery(seatBelt: boolean): Promise<void> {
  const listener = createServer((s) => {
    accepted++;
    s.destroy();
  });
  let accepted = 0;
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  onTestFinished(() => new Promise<void>((r) => listener.close(() => r())));
  const port = (listener.address() as { port: number }).port;
  // The daemon inherits this environment: the canary stands for the supervisor's secrets.
  process.env.EOSD_TEST_CANARY = CANARY;
  onTestFinished(() => {
    delete process.env.EOSD_TEST_CANARY;
  });
  const d = await startDaemon({
    // A HIGH agent needs a registered approver (preflight); this one never signs anything here.
    approvals: { approvers: [{ id: 'battery', publicKey: randomBytes(32).toString('base64') }] },
    agents: [
      { id: 'talker', package: fixtureAgent('talker'), tier: 'low' },
      {
        id: 'escaper',
        package: fixtureAgent('escape-artist'),
        tier: 'high',
        autostart: false,
        restart: 'temporary',
        limits: { tmpBytes: TMP_CAP_MIB * MiB, homeBytes: HOME_CAP_MIB * MiB, pids: 64 },
        sandbox: { nodePermissions: seatBelt },
      },
    ],
  });
  const stateDir = join(d.dir, 's');
  const status = JSON.parse((await d.client.getStatus()).sandboxJson.toString()) as { mode: string; full: boolean; missing: string[] };
  expect(status, 'the battery needs the full sandbox (see eosd doctor)').toMatchObject({ full: true, missing: [] });
  await expect.poll(async () => (await d.client.getAgent('talker')).state, { timeout: 20_000 }).toBe('running');
  const victim = await d.client.getAgent('talker');
  const escaper = await d.client.getAgent('escaper');
  const keyFile = join(stateDir, 'keys', 'supervisor.key');
  await mkdir(join(stateDir, 'keys'), { recursive: true, mode: 0o700 });
  await writeFile(keyFile, CANARY, { mode: 0o600 });
  const addonPath = ['/usr/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/aarch64-linux-gnu/libc.so.6', '/lib64/libc.so.6'].find((p) => existsSync(p)) ?? '/nonexistent.node';
  await writeIntoHomeImage(join(stateDir, 'agents', 'escaper', 'home.img'), escaper.uid, {
    unshare: await readFile('/usr/bin/unshare'),
    'targets.json': JSON.stringify({
      seatBelt,
      canary: CANARY,
      supervisorPid: d.child.pid,
      victimPid: victim.pid,
      victimHome: join(stateDir, 'agents', 'talker', 'home'),
      victimSocket: join(d.dir, 'r', 'agents', 'talker', 'agent.sock'),
      stateDir,
      keyFile,
      hostPort: port,
      addonPath,
      tmpCapMiB: TMP_CAP_MIB,
      homeCapMiB: HOME_CAP_MIB,
      forkBombMax: 200,
    }),
  });
  await d.client.startAgent('escaper');
  const done = await d.out.waitFor((l) => l.agentId === 'escaper' && l.msg === 'escape battery done', 90_000);
  const results = attempts(d.out.lines, 'escaper');
  if (process.env.EOSD_CONTAINMENT_VERBOSE === '1') {
    process.stderr.write(`${JSON.stringify(results, null, 1)}\n`);
  }
  const expected = seatBelt
    ? [...KERNEL_ATTEMPTS, 'spawn_process', 'start_worker_thread', 'load_native_addon']
    : [...KERNEL_ATTEMPTS, 'fork_bomb'];
  expect(results.map((r) => r.name).sort()).toEqual([...expected].sort());
  for (const r of results) {
    expect(r, `${r.name}: ${r.detail}`).toMatchObject({ escaped: false });
  }
  expect(done.agent).toMatchObject({ escaped: [] });
  expect(accepted, 'nothing reached the host loopback listener').toBe(0);
  // The caps were hit, not merely unreachable files.
  const byName = new Map(results.map((r) => [r.name, r.detail]));
  expect(byName.get('fill_tmp_past_cap')).toMatch(/ENOSPC/);
  expect(byName.get('fill_home_past_cap')).toMatch(/ENOSPC/);
  if (!seatBelt) {
    expect(byName.get('fork_bomb')).toMatch(/spawned/);
    expect(byName.get('create_user_namespace')).toMatch(/--user: unshare: unshare failed: Operation not permitted/);
  } else {
    expect(byName.get('spawn_process')).toMatch(/ERR_ACCESS_DENIED/);
    expect(byName.get('create_user_namespace')).toMatch(/ERR_ACCESS_DENIED/);
    expect(byName.get('start_worker_thread')).toMatch(/ERR_ACCESS_DENIED/);
    expect(byName.get('load_native_addon')).toMatch(/ERR_DLOPEN_DISABLED/);
  }
  // The victim and the supervisor are untouched.
  expect(isAlive(d.child.pid ?? 0)).toBe(true);
  const after = await d.client.getAgent('talker');
  expect(after).toMatchObject({ state: 'running', pid: victim.pid, restarts: 0 });
}

describe.skipIf(skip !== undefined)('containment: escape attempts from inside the sandbox under the real daemon', () => {
  it('fails every attempt with the full sandbox and Node permissions (the default)', async () => {
    await runBattery(true);
  });

  it('fails every attempt on the kernel layers alone (Node permissions off for this agent)', async () => {
    await runBattery(false);
  });
});
