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
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    Promise.resolve()
      .then(() => handler(call.request))
      .then(
        (res) => callback(null, res),
        (err: unknown) => {
          if (!isEosError(err)) {
            log.error({ err, rpc: method }, 'rpc handler failed');
          }
          callback(toServiceError(err));
        },
      );
  };
}
