import { Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { ERROR_CODES, EosError, isEosError, isErrorCode, type ErrorCode } from './errors.js';

/** Metadata key that carries the `EOS_*` code next to the gRPC status. */
export const ERROR_CODE_METADATA_KEY = 'eos-error-code';

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

const STATUS_FALLBACK: Partial<Record<Status, ErrorCode>> = {
  [Status.UNAVAILABLE]: 'EOS_UNAVAILABLE',
  [Status.DEADLINE_EXCEEDED]: 'EOS_UNAVAILABLE',
  [Status.CANCELLED]: 'EOS_UNAVAILABLE',
  [Status.UNIMPLEMENTED]: 'EOS_UNIMPLEMENTED',
  [Status.PERMISSION_DENIED]: 'EOS_PERMISSION_DENIED',
  [Status.UNAUTHENTICATED]: 'EOS_UNAUTHENTICATED',
  [Status.NOT_FOUND]: 'EOS_NOT_FOUND',
  [Status.INVALID_ARGUMENT]: 'EOS_INVALID_ARGUMENT',
};

/**
 * Converts an error received from a grpc-js client call into an `EosError`, reading the code from
 * the `eos-error-code` metadata when the server set it, and from the gRPC status otherwise.
 */
export function fromServiceError(err: unknown): EosError {
  if (isEosError(err) && err instanceof Error && !('metadata' in err)) {
    return err;
  }
  const se = err as Partial<ServiceError> | undefined;
  const fromMetadata = se?.metadata?.get(ERROR_CODE_METADATA_KEY)[0];
  const code: ErrorCode = isErrorCode(fromMetadata)
    ? fromMetadata
    : ((se?.code !== undefined ? STATUS_FALLBACK[se.code] : undefined) ?? 'EOS_INTERNAL');
  const message = typeof se?.details === 'string' && se.details !== '' ? se.details : String(se?.message ?? 'unknown error');
  return new EosError(code, message, { cause: err });
}
