import { EosError, GRPC_STATUS, isErrorCode, type ErrorCode } from './errors.js';

export { GRPC_STATUS };

/** Metadata key that carries the `EOS_*` code next to the gRPC status. */
export const ERROR_CODE_METADATA_KEY = 'eos-error-code';

/** The error code of a status whose call carried no `eos-error-code` (e.g. the transport failed). */
const STATUS_FALLBACK: Readonly<Partial<Record<number, ErrorCode>>> = {
  [GRPC_STATUS.UNAVAILABLE]: 'EOS_UNAVAILABLE',
  [GRPC_STATUS.DEADLINE_EXCEEDED]: 'EOS_UNAVAILABLE',
  [GRPC_STATUS.CANCELLED]: 'EOS_UNAVAILABLE',
  [GRPC_STATUS.UNIMPLEMENTED]: 'EOS_UNIMPLEMENTED',
  [GRPC_STATUS.PERMISSION_DENIED]: 'EOS_PERMISSION_DENIED',
  [GRPC_STATUS.UNAUTHENTICATED]: 'EOS_UNAUTHENTICATED',
  [GRPC_STATUS.NOT_FOUND]: 'EOS_NOT_FOUND',
  [GRPC_STATUS.INVALID_ARGUMENT]: 'EOS_INVALID_ARGUMENT',
};

/**
 * The `EosError` for a call that ended with a non-OK gRPC status: the code is the
 * `eos-error-code` the server sent when it names a known code, else one derived from the status,
 * else `EOS_INTERNAL`.
 */
export function errorFromStatus(status: number | undefined, message: string, eosCode: unknown, cause?: unknown): EosError {
  const code: ErrorCode = isErrorCode(eosCode) ? eosCode : ((status === undefined ? undefined : STATUS_FALLBACK[status]) ?? 'EOS_INTERNAL');
  return new EosError(code, message, cause === undefined ? undefined : { cause });
}
