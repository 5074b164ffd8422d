import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { EosError } from '@everythingos/proto/core';
import { ERROR_CODE_METADATA_KEY, GRPC_STATUS, errorFromStatus } from '@everythingos/proto/agent-wire';

/** Largest message accepted from the supervisor, bytes: grpc-js's default receive limit. */
export const MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;

/** Length-prefixed message header of gRPC over HTTP/2: a compressed flag, then a 4-byte big-endian length. */
const HEADER_BYTES = 5;
const EMPTY = Buffer.alloc(0);

/** Ends one call: `undefined` when the server closed it with status OK. */
type EndHandler = (err: EosError | undefined) => void;

/** Callbacks of a streaming call. `onMessage` runs once per message, in order; `onEnd` exactly once, last. */
export interface StreamHandlers<Res> {
  onMessage: (message: Res) => void;
  onEnd: EndHandler;
}

/** The agent's side of an open bidirectional stream. */
export interface ClientStream<Req> {
  /** Sends one message; false when HTTP/2 buffers it (the stream stays usable). */
  write: (message: Req) => boolean;
  /** Half-closes: no more messages from this side; the server's messages and status still arrive. */
  end: () => void;
  /** Stops reading: HTTP/2 flow control then stops the server once the window is used up. */
  pause: () => void;
  resume: () => void;
}

/**
 * Splits a call's DATA into gRPC messages. Chunks are kept until a message is complete and joined
 * once, so a large message costs one copy, not one per chunk.
 */
class MessageReader {
  readonly #max: number;
  #chunks: Buffer[] = [];
  #size = 0;
  /** Length of the message being read, or -1 while its header is incomplete. */
  #need = -1;

  constructor(max: number) {
    this.#max = max;
  }

  /** Whether an unfinished message (or its header) is buffered: at the end of a call, a truncated message. */
  get partial(): boolean {
    return this.#size > 0 || this.#need >= 0;
  }

  /**
   * Adds a chunk and passes every message it completes to `deliver`.
   * @throws EosError `EOS_INTERNAL` for a compressed message (none was negotiated) or one over the limit.
   */
  push(chunk: Buffer, deliver: (message: Buffer) => void): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    for (;;) {
      if (this.#need < 0) {
        if (this.#size < HEADER_BYTES) {
          return;
        }
        const header = this.#take(HEADER_BYTES);
        if (header[0] !== 0) {
          throw new EosError('EOS_INTERNAL', 'the supervisor sent a compressed message, which this client did not accept');
        }
        const length = header.readUInt32BE(1);
        if (length > this.#max) {
          throw new EosError('EOS_INTERNAL', `the supervisor sent a message of ${length} bytes, over the ${this.#max}-byte limit`);
        }
        this.#need = length;
      }
      if (this.#size < this.#need) {
        return;
      }
      const message = this.#take(this.#need);
      this.#need = -1;
      deliver(message);
    }
  }

  #take(n: number): Buffer {
    if (n === 0) {
      // An empty message (a response with every field at its default) may end the data.
      return EMPTY;
    }
    const first = this.#chunks[0] as Buffer;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) {
        this.#chunks.shift();
      } else {
        this.#chunks[0] = first.subarray(n);
      }
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const c = this.#chunks[0] as Buffer;
        const k = Math.min(c.length, n - at);
        c.copy(out, at, 0, k);
        at += k;
        if (k === c.length) {
          this.#chunks.shift();
        } else {
          this.#chunks[0] = c.subarray(k);
        }
      }
    }
    this.#size -= n;
    return out;
  }
}

function framed(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, HEADER_BYTES);
  return out;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** `grpc-message` is percent-encoded (gRPC over HTTP/2); a malformed one is shown as sent. */
function statusMessage(raw: string | undefined): string {
  if (raw === undefined || raw === '') {
    return '';
  }
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * Follows one HTTP/2 stream as a gRPC call: checks the response headers, splits DATA into
 * messages, reads the status from the trailers (or from the headers of a trailers-only response)
 * and reports the end exactly once, as an `EosError` built from `eos-error-code` and the status.
 */
function followCall<T>(
  stream: ClientHttp2Stream,
  max: number,
  deserialize: (b: Buffer) => T,
  onMessage: (message: T) => void,
  onEnd: EndHandler,
): (err: EosError) => void {
  const reader = new MessageReader(max);
  let status: number | undefined;
  let message = '';
  let eosCode: string | undefined;
  let failure: EosError | undefined;
  let transportError: Error | undefined;
  let ended = false;

  const fail = (err: EosError): void => {
    failure ??= err;
    stream.close(constants.NGHTTP2_CANCEL);
  };
  const readStatus = (headers: IncomingHttpHeaders): void => {
    const raw = header(headers, 'grpc-status');
    if (raw !== undefined) {
      const n = raw === '' ? Number.NaN : Number(raw);
      status = Number.isInteger(n) && n >= 0 ? n : GRPC_STATUS.UNKNOWN;
      message = statusMessage(header(headers, 'grpc-message'));
      eosCode = header(headers, ERROR_CODE_METADATA_KEY);
    }
  };

  stream.on('response', (headers) => {
    const httpStatus = headers[':status'];
    if (httpStatus !== 200) {
      fail(new EosError('EOS_UNAVAILABLE', `the supervisor answered HTTP status ${String(httpStatus)}`));
      return;
    }
    const contentType = header(headers, 'content-type');
    if (contentType === undefined || !contentType.startsWith('application/grpc')) {
      fail(new EosError('EOS_INTERNAL', `the supervisor answered content type ${String(contentType)}`));
      return;
    }
    // A trailers-only response (an error before any message) carries the status here.
    readStatus(headers);
  });
  stream.on('trailers', readStatus);
  stream.on('data', (chunk: Buffer) => {
    if (failure !== undefined) {
      return;
    }
    // Decoded first, handed over after: an exception of the handler is the handler's, not a bad
    // message. Messages before a bad one are delivered, whichever chunk they came in.
    const decoded: T[] = [];
    let bad: EosError | undefined;
    try {
      reader.push(chunk, (message) => decoded.push(deserialize(message)));
    } catch (err) {
      bad = err instanceof EosError ? err : new EosError('EOS_INTERNAL', 'a message from the supervisor could not be decoded', { cause: err });
    }
    for (const message of decoded) {
      onMessage(message);
    }
    if (bad !== undefined) {
      fail(bad);
    }
  });
  stream.on('error', (err) => {
    transportError = err;
  });
  const settle = (readEnded: boolean): void => {
    if (ended) {
      return;
    }
    ended = true;
    if (failure !== undefined) {
      onEnd(failure);
    } else if (status === GRPC_STATUS.OK && !readEnded) {
      // Closed (connection lost, stream destroyed) with messages possibly still unread, e.g.
      // while paused: not a clean end, whatever status the trailers carried.
      onEnd(new EosError('EOS_UNAVAILABLE', 'the connection to the supervisor closed before every message was read'));
    } else if (status === GRPC_STATUS.OK && !reader.partial) {
      onEnd(undefined);
    } else if (status === GRPC_STATUS.OK) {
      onEnd(new EosError('EOS_INTERNAL', 'the call ended inside a message'));
    } else if (status !== undefined) {
      onEnd(errorFromStatus(status, message === '' ? `the supervisor ended the call with gRPC status ${status}` : message, eosCode));
    } else if (readEnded && transportError === undefined) {
      onEnd(new EosError('EOS_INTERNAL', 'the supervisor ended the call without a gRPC status'));
    } else {
      const why = transportError === undefined ? `stream reset with HTTP/2 code ${stream.rstCode ?? 'none'}` : transportError.message;
      onEnd(new EosError('EOS_UNAVAILABLE', `the connection to the supervisor closed before the call ended (${why})`, transportError === undefined ? undefined : { cause: transportError }));
    }
  };
  // The server's half ended (trailers read, every message delivered): the call is over even while
  // this side could still write, so it ends here and the stream is released.
  stream.on('end', () => {
    settle(true);
    if (!stream.closed) {
      stream.close();
    }
  });
  stream.on('close', () => settle(false));
  return fail;
}

/** What a {@link AgentClient} is built from. */
export interface AgentClientOptions {
  /** The agent's socket, as the agent sees it. */
  socketPath: string;
  /** @defaultValue {@link MAX_RECEIVE_MESSAGE_BYTES} */
  maxReceiveMessageBytes?: number;
}

/**
 * agent-host's gRPC client for the agent socket: gRPC over `node:http2` on one HTTP/2 connection,
 * unary calls and the one bidirectional Session stream, no compression, no retries. It replaces
 * grpc-js on the agent side, where grpc-js was two thirds of the code every agent start loads and
 * several microtask hops per message (P1, P2 and P5 in docs/performance.md); the supervisor still
 * serves with grpc-js. A call fails with an `EosError`: the `eos-error-code` the supervisor sent,
 * else one derived from the gRPC status, `EOS_UNAVAILABLE` when the connection or a deadline ends it.
 */
export class AgentClient {
  readonly #socketPath: string;
  readonly #max: number;
  #session: ClientHttp2Session | undefined;
  #sessionError: Error | undefined;
  /** Calls open per connection: a connection keeps the process alive only while it has one. */
  readonly #calls = new WeakMap<ClientHttp2Session, number>();
  #closed = false;

  constructor(opts: AgentClientOptions) {
    this.#socketPath = opts.socketPath;
    this.#max = opts.maxReceiveMessageBytes ?? MAX_RECEIVE_MESSAGE_BYTES;
  }

  /**
   * Makes a unary call: resolves with the one response message or rejects with an `EosError`.
   * `timeoutMs` is sent as `grpc-timeout` and enforced here too (`EOS_UNAVAILABLE` when it passes).
   */
  unary<Req, Res>(path: string, request: Req, serialize: (m: Req) => Buffer, deserialize: (b: Buffer) => Res, timeoutMs: number): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      let body: Buffer;
      try {
        body = framed(serialize(request));
      } catch (err) {
        reject(new EosError('EOS_INVALID_ARGUMENT', `the ${path} request could not be encoded`, { cause: err }));
        return;
      }
      const opened = this.#open(path, timeoutMs);
      if (opened instanceof EosError) {
        reject(opened);
        return;
      }
      const { stream, session } = opened;
      const timer = setTimeout(() => {
        deadlineErr = new EosError('EOS_UNAVAILABLE', `${path}: no answer from the supervisor within ${timeoutMs} ms`);
        stream.close(constants.NGHTTP2_CANCEL);
      }, timeoutMs);
      let deadlineErr: EosError | undefined;
      let response: Res | undefined;
      let count = 0;
      followCall(
        stream,
        this.#max,
        deserialize,
        (message) => {
          count++;
          response = message;
        },
        (err) => {
          clearTimeout(timer);
          this.#release(session);
          if (deadlineErr !== undefined) {
            reject(deadlineErr);
          } else if (err !== undefined) {
            reject(err);
          } else if (count !== 1) {
            reject(new EosError('EOS_INTERNAL', `${path}: the supervisor answered ${count} messages to a unary call`));
          } else {
            resolve(response as Res);
          }
        },
      );
      stream.end(body);
    });
  }

  /**
   * Opens a bidirectional stream. Messages that fail to decode end it with `EOS_INTERNAL`; the
   * end is reported once, to `handlers.onEnd`, also when it never opened (connection refused).
   */
  stream<Req, Res>(path: string, serialize: (m: Req) => Buffer, deserialize: (b: Buffer) => Res, handlers: StreamHandlers<Res>): ClientStream<Req> {
    const opened = this.#open(path, undefined);
    if (opened instanceof EosError) {
      queueMicrotask(() => handlers.onEnd(opened));
      return { write: () => false, end: () => undefined, pause: () => undefined, resume: () => undefined };
    }
    const { stream, session } = opened;
    const fail = followCall(
      stream,
      this.#max,
      deserialize,
      handlers.onMessage,
      (err) => {
        this.#release(session);
        handlers.onEnd(err);
      },
    );
    return {
      write: (message) => {
        if (!stream.writable) {
          return false;
        }
        let bytes: Buffer;
        try {
          bytes = framed(serialize(message));
        } catch (err) {
          // As grpc-js did: a frame that cannot be encoded ends the stream, reported through onEnd.
          fail(new EosError('EOS_INTERNAL', `a ${path} message could not be encoded`, { cause: err }));
          return false;
        }
        return stream.write(bytes);
      },
      end: () => {
        if (stream.writable) {
          stream.end();
        }
      },
      pause: () => stream.pause(),
      resume: () => stream.resume(),
    };
  }

  /** Closes the connection once its calls have ended; new calls fail with `EOS_UNAVAILABLE`. */
  close(): void {
    this.#closed = true;
    this.#session?.close();
  }

  #connection(): ClientHttp2Session {
    const current = this.#session;
    if (current !== undefined && !current.closed && !current.destroyed) {
      return current;
    }
    const socketPath = this.#socketPath;
    const session = connect('http://localhost', {
      createConnection: () => netConnect(socketPath),
      settings: { enablePush: false },
      // As grpc-js does: Node's default cap (10 MB of buffered session data) turns a burst into a
      // torn-down connection instead of flow control.
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
    });
    session.on('error', (err) => {
      // Each stream on the session ends with its own error; kept for the message of later ones.
      this.#sessionError = err;
    });
    session.on('close', () => {
      if (this.#session === session) {
        this.#session = undefined;
      }
    });
    session.unref();
    this.#session = session;
    return session;
  }

  #open(path: string, timeoutMs: number | undefined): { stream: ClientHttp2Stream; session: ClientHttp2Session } | EosError {
    if (this.#closed) {
      return new EosError('EOS_UNAVAILABLE', 'the client is closed');
    }
    const headers: Record<string, string> = {
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-accept-encoding': 'identity',
      'user-agent': 'eos-agent-host',
    };
    if (timeoutMs !== undefined) {
      headers['grpc-timeout'] = `${Math.max(1, Math.ceil(timeoutMs))}m`;
    }
    let stream: ClientHttp2Stream;
    let session: ClientHttp2Session;
    try {
      session = this.#connection();
      stream = session.request(headers);
    } catch (err) {
      return new EosError('EOS_UNAVAILABLE', `cannot reach the supervisor: ${(err as Error).message}`, { cause: this.#sessionError ?? err });
    }
    const calls = (this.#calls.get(session) ?? 0) + 1;
    this.#calls.set(session, calls);
    if (calls === 1) {
      session.ref();
    }
    return { stream, session };
  }

  #release(session: ClientHttp2Session): void {
    const calls = (this.#calls.get(session) ?? 1) - 1;
    this.#calls.set(session, calls);
    if (calls === 0 && !session.destroyed) {
      session.unref();
    }
  }
}
