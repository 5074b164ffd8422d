import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { isEosError, toServiceError } from '@everythingos/proto';

/**
 * Adapts an async handler to grpc-js: resolves to the response, or sends the error as gRPC status
 * plus `eos-error-code`. Errors without an EOS code are bugs: logged in full, sent as EOS_INTERNAL.
 */
export function unary<Req, Res>(
  log: Logger,
  method: string,
  handler: (req: Req) => Promise<Res> | Res,
  observe?: RpcObserver,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    const t0 = observe === undefined ? 0n : process.hrtime.bigint();
    const done = (code: string): void => {
      observe?.(method, code, Number(process.hrtime.bigint() - t0) / 1e9);
    };
    Promise.resolve()
      .then(() => handler(call.request))
      .then(
        (res) => {
          done('OK');
          callback(null, res);
        },
        (err: unknown) => {
          if (!isEosError(err)) {
            log.error({ err, rpc: method }, 'rpc handler failed');
          }
          done(isEosError(err) ? err.code : 'EOS_INTERNAL');
          callback(toServiceError(err));
        },
      );
  };
}

/** Told about every served call: method, result code (`OK` or an `EOS_*` code) and duration. */
export type RpcObserver = (method: string, code: string, seconds: number) => void;
