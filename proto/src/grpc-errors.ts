import { Metadata, type status as Status, type ServiceError } from '@grpc/grpc-js';
import { ERROR_CODES, EosError, isEosError } from './errors.js';
import { ERROR_CODE_METADATA_KEY, errorFromStatus } from './grpc-status.js';

export { ERROR_CODE_METADATA_KEY };

/** What a grpc-js server handler passes to its callback or `call.destroy()`. */
export interface ServerErrorObject {
  code: Status;
  details: string;
  metadata: Metadata;
}

/**
 * Converts any thrown value into a gRPC error with the `eos-error-code` metadata. Errors that are
 * not `EosError` become `EOS_INTERNAL` with a generic message: internals never leak to a peer.
 */
export function toServiceError(err: unknown): ServerErrorObject {
  const eos = isEosError(err) ? err : new EosError('EOS_INTERNAL', 'internal error');
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA_KEY, eos.code);
  return { code: ERROR_CODES[eos.code].grpc, details: eos.message, metadata };
}

/**
 * Converts an error received from a grpc-js client call into an `EosError`, reading the code from
 * the `eos-error-code` metadata when the server set it, and from the gRPC status otherwise.
 */
export function fromServiceError(err: unknown): EosError {
  if (isEosError(err) && err instanceof Error && !('metadata' in err)) {
    return err;
  }
  const se = err as Partial<ServiceError> | undefined;
  const message = typeof se?.details === 'string' && se.details !== '' ? se.details : String(se?.message ?? 'unknown error');
  return errorFromStatus(se?.code, message, se?.metadata?.get(ERROR_CODE_METADATA_KEY)[0], err);
}
