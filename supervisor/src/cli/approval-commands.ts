import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { EosError, type controlV1 } from '@everythingos/proto';
import { generateApproverKey, keyFingerprint, parseApproverKeyFile, signDecision, type ApproverKeyFile } from '../approvals/approval-signature.js';
import type { ControlClient } from './control-client.js';

/** What the approval commands need from the CLI. */
export interface ApprovalCliContext {
  env: NodeJS.ProcessEnv;
  out: (text: string) => void;
  withClient: (args: object, fn: (c: ControlClient) => Promise<void>) => Promise<void>;
  now?: () => number;
}

/** Where `eosd keys approver init` writes and the signing commands read the key by default. */
export function defaultApproverKeyPath(env: NodeJS.ProcessEnv): string {
  if (env.EOSD_APPROVER_KEY !== undefined && env.EOSD_APPROVER_KEY !== '') {
    return resolve(env.EOSD_APPROVER_KEY);
  }
  const home = env.HOME;
  if (home === undefined || home === '') {
    throw new EosError('EOS_INVALID_ARGUMENT', 'HOME is not set; pass --key or set EOSD_APPROVER_KEY');
  }
  return join(home, '.config', 'eosd', 'approver.key');
}

async function readKey(path: string): Promise<ApproverKeyFile> {
  const st = await stat(path).catch((err: unknown) => {
    throw new EosError('EOS_NOT_FOUND', `no approver key at ${path}: ${(err as Error).message}; create one with eosd keys approver init`, { cause: err });
  });
  if ((st.mode & 0o077) !== 0) {
    throw new EosError('EOS_PERMISSION_DENIED', `approver key ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  }
  return parseApproverKeyFile(await readFile(path, 'utf8'), path);
}

async function writeNewKey(path: string, key: ApproverKeyFile, force: boolean): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  let fh;
  try {
    fh = await open(path, force ? 'w' : 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new EosError('EOS_ALREADY_EXISTS', `${path} exists; pass --force to replace it (its registrations stop working)`, { cause: err });
    }
    throw err;
  }
  try {
    await fh.chmod(0o600);
    await fh.writeFile(`${JSON.stringify(key)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Signs a decision with the key at `keyPath` and sends it for the pending request `id`. */
async function decide(
  c: ControlClient,
  ctx: ApprovalCliContext,
  keyPath: string,
  id: string,
  decision: 'approve' | 'deny',
  reason: string,
): Promise<controlV1.ApprovalInfo__Output> {
  const key = await readKey(keyPath);
  const pending = (await c.listApprovals()).find((a) => a.id === id && a.state === 'pending');
  if (pending === undefined) {
    throw new EosError('EOS_NOT_FOUND', `no pending approval ${id}; see eosd approvals ls`);
  }
  const fields = { requestId: id, challenge: pending.challenge, decision, approverKeyId: key.id, timeMs: (ctx.now ?? Date.now)(), reason };
  const signature = signDecision(fields, Buffer.from(key.secretKey, 'base64'));
  return c.decideApproval({ ...fields, signature: Buffer.from(signature) });
}

function approvalJson(a: controlV1.ApprovalInfo__Output): Record<string, unknown> {
  return {
    id: a.id,
    kind: a.kind,
    agentId: a.agentId,
    summary: a.summary,
    state: a.state,
    createdAtMs: a.createdAtMs,
    expiresAtMs: a.expiresAtMs,
    decidedBy: a.decidedBy,
    reason: a.reason,
    action: JSON.parse(a.actionJson.toString('utf8') || '{}') as unknown,
  };
}

/** Adds `keys approver init`, `approvals ls`, `approve`, `deny` and `estop [clear]` to the parser. */
export function registerApprovalCommands(y: Argv, ctx: ApprovalCliContext): Argv {
  const keyOption = { type: 'string', describe: 'approver key file (default ~/.config/eosd/approver.key or $EOSD_APPROVER_KEY)' } as const;
  const keyPathOf = (args: { key?: unknown }): string => (typeof args.key === 'string' ? resolve(args.key) : defaultApproverKeyPath(ctx.env));
  const isJson = (args: object): boolean => (args as { json?: boolean }).json === true;
  return y
    .command('keys', 'manage keys', (k: Argv) =>
      k
        .command('approver', 'approver signing keys', (a: Argv) =>
          a
            .command(
              'init',
              'create an Ed25519 approver key pair (0600) and print the config entry that registers it',
              (i: Argv) =>
                i
                  .option('id', { type: 'string', describe: 'key id to register (default: $USER)' })
                  .option('out', { type: 'string', describe: 'key file (default ~/.config/eosd/approver.key)' })
                  .option('force', { type: 'boolean', default: false, describe: 'replace an existing key file' }),
              async (args) => {
                const id = typeof args.id === 'string' ? args.id : (ctx.env.USER ?? 'approver');
                const path = typeof args.out === 'string' ? resolve(args.out) : defaultApproverKeyPath(ctx.env);
                const key = generateApproverKey(id);
                await writeNewKey(path, key, args.force === true);
                const entry = { id: key.id, publicKey: key.publicKey };
                ctx.out(
                  isJson(args)
                    ? JSON.stringify({ path, fingerprint: keyFingerprint(key.publicKey), approver: entry })
                    : [
                        `wrote ${path} (mode 0600), fingerprint ${keyFingerprint(key.publicKey)}`,
                        'register it in the daemon config:',
                        'approvals:',
                        '  approvers:',
                        `    - { id: ${JSON.stringify(entry.id)}, publicKey: ${JSON.stringify(entry.publicKey)} }`,
                      ].join('\n'),
                );
              },
            )
            .demandCommand(1, 'name a keys approver subcommand: init'),
        )
        .demandCommand(1, 'name a keys subcommand: approver'),
    )
    .command('approvals', 'human approvals', (a: Argv) =>
      a
        .command(
          ['ls', 'list'],
          'list pending and recently decided approvals',
          (l: Argv) => l,
          (args) =>
            ctx.withClient(args, async (c) => {
              const list = await c.listApprovals();
              if (isJson(args)) {
                ctx.out(JSON.stringify(list.map(approvalJson)));
                return;
              }
              const rows = list.map((x) => `${x.id}  ${x.state.padEnd(9)} ${x.kind.padEnd(18)} ${(x.agentId || '-').padEnd(16)} ${x.summary}`);
              ctx.out(rows.length === 0 ? 'no approvals' : [`${'ID'.padEnd(28)}  ${'STATE'.padEnd(9)} ${'KIND'.padEnd(18)} ${'AGENT'.padEnd(16)} SUMMARY`, ...rows].join('\n'));
            }),
        )
        .demandCommand(1, 'name an approvals subcommand: ls'),
    )
    .command(
      'approve <id>',
      'sign and send an approval',
      (a: Argv) => a.positional('id', { type: 'string', demandOption: true }).option('reason', { type: 'string', default: '' }).option('key', keyOption),
      (args) =>
        ctx.withClient(args, async (c) => {
          const r = await decide(c, ctx, keyPathOf(args), String(args.id), 'approve', String(args.reason));
          ctx.out(isJson(args) ? JSON.stringify(approvalJson(r)) : `approved ${r.id} (${r.kind}${r.agentId ? ` ${r.agentId}` : ''})`);
        }),
    )
    .command(
      'deny <id>',
      'sign and send a denial',
      (a: Argv) =>
        a.positional('id', { type: 'string', demandOption: true }).option('reason', { type: 'string', demandOption: true }).option('key', keyOption),
      (args) =>
        ctx.withClient(args, async (c) => {
          const r = await decide(c, ctx, keyPathOf(args), String(args.id), 'deny', String(args.reason));
          ctx.out(isJson(args) ? JSON.stringify(approvalJson(r)) : `denied ${r.id} (${r.kind}${r.agentId ? ` ${r.agentId}` : ''})`);
        }),
    )
    .command(
      'estop [action]',
      'emergency stop: kill every agent and block all starts until "eosd estop clear" is signed',
      (e: Argv) =>
        e
          .positional('action', { type: 'string', choices: ['clear'], describe: 'clear: sign the release of the emergency stop' })
          .option('reason', { type: 'string', default: '' })
          .option('key', keyOption),
      (args) =>
        ctx.withClient(args, async (c) => {
          if (args.action !== 'clear') {
            const r = await c.emergencyStop(String(args.reason));
            ctx.out(isJson(args) ? JSON.stringify({ active: r.estop?.active ?? false, agentsStopped: r.agentsStopped }) : `emergency stop engaged; ${r.agentsStopped} agent(s) stopped`);
            return;
          }
          const keyPath = keyPathOf(args);
          await readKey(keyPath);
          const r = await c.clearEmergencyStop();
          if (r.approval === null) {
            ctx.out(isJson(args) ? JSON.stringify({ active: false }) : 'emergency stop is not engaged');
            return;
          }
          await decide(c, ctx, keyPath, r.approval.id, 'approve', String(args.reason));
          ctx.out(isJson(args) ? JSON.stringify({ active: false, approvalId: r.approval.id }) : `emergency stop cleared (${r.approval.id})`);
        }),
    );
}
