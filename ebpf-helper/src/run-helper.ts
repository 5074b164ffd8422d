import { createConnection, type Socket } from 'node:net';
import { once } from 'node:events';
import type { Logger } from 'pino';
import { encodeHelperFrame, FrameDecoder, HELPER_PROTOCOL_VERSION, type helperV1 } from '@everythingos/proto';
import { BpftraceSource, ensureTracefs, type BpftraceSourceOptions } from './bpftrace-source.js';
import { GlasswallySource, type GlasswallySourceOptions } from './glasswally-source.js';
import { checkOutputDir } from './check-output-dir.js';

/** What {@link runHelper} runs. */
export type HelperRunOptions =
  | { mode: 'tail'; socketPath: string; healthIntervalMs: number; tail: GlasswallySourceOptions }
  | { mode: 'kernel'; socketPath: string; healthIntervalMs: number; kernel: BpftraceSourceOptions; isRoot: boolean };

/** Frames queued on the socket past this many bytes are dropped (and counted): the supervisor is not reading. */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

/**
 * The helper process body: connects to the supervisor's helper socket, says Hello, runs the
 * source, forwards everything as frames and reports health. Resolves when the supervisor sends
 * Shutdown or closes the socket (the socket is the lifeline: the helper never outlives it).
 * @throws EosError from the output directory check in tail mode.
 */
export async function runHelper(o: HelperRunOptions, log: Logger, pid: number): Promise<void> {
  if (o.mode === 'tail') {
    await checkOutputDir(o.tail.dir);
  }
  const socket: Socket = createConnection(o.socketPath);
  await once(socket, 'connect');
  let dropped = 0;
  let framingErrors = 0;
  // Until Hello is out, frames wait here: tail mode says Hello only after its first look has set
  // the start offsets, so "connected" means "every line appended from now on will be seen".
  let held: helperV1.HelperFrame[] | null = [];
  const send = (f: helperV1.HelperFrame): void => {
    if (held !== null) {
      held.push(f);
      return;
    }
    if (socket.writableLength > MAX_QUEUED_BYTES) {
      dropped++;
      return;
    }
    socket.write(encodeHelperFrame(f));
  };
  const sayHello = (): void => {
    const queued = held ?? [];
    held = null;
    send({ hello: { protocolVersion: HELPER_PROTOCOL_VERSION, mode: o.mode === 'tail' ? 'MODE_TAIL' : 'MODE_KERNEL', pid } });
    queued.forEach(send);
  };

  let stopSource: () => Promise<void>;
  let health: () => helperV1.Health;
  if (o.mode === 'tail') {
    const src = new GlasswallySource(
      o.tail,
      {
        record: (kind, file, lineNo, data) => send({ glasswallyRecord: { kind, file, lineNo, data } }),
        alarm: (kind, count, message) => send({ alarm: { kind, count, message } }),
        dropped: (n) => {
          dropped += n;
        },
      },
      log,
    );
    await src.start();
    sayHello();
    stopSource = () => src.stop();
    health = () => ({
      received: src.received,
      dropped,
      backendState: 'tailing',
      lastEventAgeMs: src.lastEventAt < 0 ? -1 : Date.now() - src.lastEventAt,
    });
  } else {
    if (o.isRoot) {
      await ensureTracefs(log);
    }
    const src = new BpftraceSource(
      o.kernel,
      {
        event: (e) => send({ kernelEvent: e }),
        alarm: (kind, count, message) => send({ alarm: { kind, count, message } }),
        framingError: () => {
          framingErrors++;
        },
      },
      log,
    );
    sayHello();
    src.start();
    stopSource = () => src.stop();
    health = () => ({
      received: src.received,
      dropped,
      lostKernel: src.lostKernel,
      framingErrors,
      backendRestarts: src.restarts,
      backendState: src.state,
      lastEventAgeMs: src.lastEventAt < 0 ? -1 : Date.now() - src.lastEventAt,
    });
  }

  const timer = setInterval(() => send({ health: health() }), o.healthIntervalMs);
  const decoder = FrameDecoder.forSupervisorFrames();
  await new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      try {
        if (decoder.push(chunk).some((f) => f.body === 'shutdown')) {
          log.info('shutdown requested');
          resolve();
        }
      } catch (err) {
        log.error({ err }, 'bad frame from the supervisor');
        resolve();
      }
    });
    socket.on('close', () => resolve());
    socket.on('error', (err) => {
      log.error({ err }, 'helper socket failed');
      resolve();
    });
  });
  clearInterval(timer);
  await stopSource();
  send({ health: health() });
  socket.end();
}
