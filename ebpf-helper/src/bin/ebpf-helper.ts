#!/usr/bin/env node
// Entry point of the ebpf-helper process; the supervisor spawns it (see supervisor/src/helper).
// The only place that reads argv, touches process globals and creates the root logger.
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { z } from 'zod';
import { isEosError } from '@everythingos/proto';
import { runHelper } from '../run-helper.js';

const DEFAULT_SCRIPT = fileURLToPath(new URL('../../bpf/eosd-watch.bt', import.meta.url));

const Args = z.discriminatedUnion('mode', [
  z.strictObject({
    mode: z.literal('tail'),
    socket: z.string().min(1),
    dir: z.string().min(1),
    actionFiles: z.enum(['audit', 'split']).default('audit'),
    feedFile: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/).default('ioc_feed.jsonl'),
    legacyBundles: z.boolean().default(true),
    fromStart: z.boolean().default(false),
    pollMs: z.coerce.number().int().min(10).default(1000), // 1 s; fs.watch is not reliable enough to replace polling
    healthIntervalMs: z.coerce.number().int().min(100).default(5000),
  }),
  z.strictObject({
    mode: z.literal('kernel'),
    socket: z.string().min(1),
    uidMin: z.coerce.number().int().min(1),
    uidMax: z.coerce.number().int().min(2),
    script: z.string().default(DEFAULT_SCRIPT),
    bpftrace: z.string().default('/usr/bin/bpftrace'),
    setpriv: z.string().default('/usr/bin/setpriv'),
    armDelayMs: z.coerce.number().int().min(0).default(1000),
    healthIntervalMs: z.coerce.number().int().min(100).default(5000),
  }),
]);

const { values } = parseArgs({
  options: {
    mode: { type: 'string' },
    socket: { type: 'string' },
    dir: { type: 'string' },
    'action-files': { type: 'string' },
    'feed-file': { type: 'string' },
    'no-legacy-bundles': { type: 'boolean' },
    'from-start': { type: 'boolean' },
    'poll-ms': { type: 'string' },
    'health-interval-ms': { type: 'string' },
    'uid-min': { type: 'string' },
    'uid-max': { type: 'string' },
    script: { type: 'string' },
    bpftrace: { type: 'string' },
    setpriv: { type: 'string' },
    'arm-delay-ms': { type: 'string' },
  },
  strict: true,
});

const log = pino({ level: process.env['EOS_LOG_LEVEL'] ?? 'info' }, pino.destination(2)).child({ component: 'ebpf-helper' });
const raw = Object.fromEntries(
  Object.entries({
    mode: values.mode,
    socket: values.socket,
    dir: values.dir,
    actionFiles: values['action-files'],
    feedFile: values['feed-file'],
    legacyBundles: values['no-legacy-bundles'] === true ? false : undefined,
    fromStart: values['from-start'],
    pollMs: values['poll-ms'],
    healthIntervalMs: values['health-interval-ms'],
    uidMin: values['uid-min'],
    uidMax: values['uid-max'],
    script: values.script,
    bpftrace: values.bpftrace,
    setpriv: values.setpriv,
    armDelayMs: values['arm-delay-ms'],
  }).filter(([, v]) => v !== undefined),
);
const parsed = Args.safeParse(raw);
if (!parsed.success) {
  log.fatal({ issues: z.prettifyError(parsed.error) }, 'invalid arguments');
  process.exit(78);
}
const a = parsed.data;
const MiB = 1024 * 1024;

runHelper(
  a.mode === 'tail'
    ? {
        mode: 'tail',
        socketPath: a.socket,
        healthIntervalMs: a.healthIntervalMs,
        tail: {
          dir: a.dir,
          actionFiles: a.actionFiles,
          feedFile: a.feedFile,
          legacyBundles: a.legacyBundles,
          fromStart: a.fromStart,
          pollMs: a.pollMs,
          actionLineCapBytes: 64 * 1024, // the predecessor's MAX_LINE_BYTES, now in bytes
          iocLineCapBytes: MiB, // an IOC bundle lists many addresses; stays under MAX_HELPER_FRAME_BYTES
          bufferCapBytes: MiB, // STRIDE D-6 partial-line cap
          readChunkBytes: MiB,
        },
      }
    : {
        mode: 'kernel',
        socketPath: a.socket,
        healthIntervalMs: a.healthIntervalMs,
        isRoot: process.geteuid?.() === 0,
        kernel: {
          scriptPath: a.script,
          uidMin: a.uidMin,
          uidMax: a.uidMax,
          bpftracePath: a.bpftrace,
          setprivPath: a.setpriv,
          armDelayMs: a.armDelayMs,
          stopGraceMs: 5000,
          restartInitialMs: 1000,
          restartMaxMs: 30_000,
          perfRingPages: 1024,
        },
      },
  log,
  process.pid,
).then(
  () => process.exit(0),
  (err: unknown) => {
    log.fatal({ err }, 'ebpf-helper failed');
    process.exit(isEosError(err, 'EOS_CONFIG_INVALID') ? 78 : isEosError(err, 'EOS_PERMISSION_DENIED') ? 77 : 1);
  },
);
