import type { status as GrpcStatus } from '@grpc/grpc-js';

/**
 * The gRPC status codes eosd uses: the ones error codes travel as, and OK and CANCELLED for clients.
 * The numbers are fixed by the gRPC protocol (grpc-js's `status` enum holds the same, checked by a
 * unit test); they are spelled out here so that importing the error codes (as every agent does
 * through the SDK) and agent-host's own gRPC client do not load grpc-js.
 */
export const GRPC_STATUS = {
  OK: 0 as GrpcStatus.OK,
  CANCELLED: 1 as GrpcStatus.CANCELLED,
  UNKNOWN: 2 as GrpcStatus.UNKNOWN,
  INVALID_ARGUMENT: 3 as GrpcStatus.INVALID_ARGUMENT,
  DEADLINE_EXCEEDED: 4 as GrpcStatus.DEADLINE_EXCEEDED,
  NOT_FOUND: 5 as GrpcStatus.NOT_FOUND,
  ALREADY_EXISTS: 6 as GrpcStatus.ALREADY_EXISTS,
  PERMISSION_DENIED: 7 as GrpcStatus.PERMISSION_DENIED,
  RESOURCE_EXHAUSTED: 8 as GrpcStatus.RESOURCE_EXHAUSTED,
  FAILED_PRECONDITION: 9 as GrpcStatus.FAILED_PRECONDITION,
  UNIMPLEMENTED: 12 as GrpcStatus.UNIMPLEMENTED,
  INTERNAL: 13 as GrpcStatus.INTERNAL,
  UNAVAILABLE: 14 as GrpcStatus.UNAVAILABLE,
  DATA_LOSS: 15 as GrpcStatus.DATA_LOSS,
  UNAUTHENTICATED: 16 as GrpcStatus.UNAUTHENTICATED,
} as const;

/**
 * Every error code eosd can report, with the gRPC status it travels as and whether a caller may
 * retry. Codes are API: they are documented in docs/reference/errors.md, never renamed and never
 * reused.
 */
export const ERROR_CODES = {
  EOS_CONFIG_INVALID: { grpc: GRPC_STATUS.INVALID_ARGUMENT, retryable: false },
  EOS_MANIFEST_INVALID: { grpc: GRPC_STATUS.INVALID_ARGUMENT, retryable: false },
  EOS_INVALID_ARGUMENT: { grpc: GRPC_STATUS.INVALID_ARGUMENT, retryable: false },
  EOS_NOT_FOUND: { grpc: GRPC_STATUS.NOT_FOUND, retryable: false },
  EOS_ALREADY_EXISTS: { grpc: GRPC_STATUS.ALREADY_EXISTS, retryable: false },
  EOS_ILLEGAL_STATE: { grpc: GRPC_STATUS.FAILED_PRECONDITION, retryable: false },
  EOS_PROTOCOL_MISMATCH: { grpc: GRPC_STATUS.FAILED_PRECONDITION, retryable: false },
  EOS_PROTOCOL_VIOLATION: { grpc: GRPC_STATUS.INVALID_ARGUMENT, retryable: false },
  EOS_UNAUTHENTICATED: { grpc: GRPC_STATUS.UNAUTHENTICATED, retryable: false },
  EOS_PERMISSION_DENIED: { grpc: GRPC_STATUS.PERMISSION_DENIED, retryable: false },
  EOS_RATE_LIMITED: { grpc: GRPC_STATUS.RESOURCE_EXHAUSTED, retryable: true },
  EOS_RESOURCE_EXHAUSTED: { grpc: GRPC_STATUS.RESOURCE_EXHAUSTED, retryable: false },
  EOS_AGENT_SPAWN_FAILED: { grpc: GRPC_STATUS.UNAVAILABLE, retryable: true },
  EOS_AGENT_START_TIMEOUT: { grpc: GRPC_STATUS.DEADLINE_EXCEEDED, retryable: true },
  EOS_AGENT_EXITED: { grpc: GRPC_STATUS.UNAVAILABLE, retryable: true },
  EOS_AGENT_CRASH_LOOP: { grpc: GRPC_STATUS.FAILED_PRECONDITION, retryable: false },
  EOS_AGENT_FAILED: { grpc: GRPC_STATUS.UNKNOWN, retryable: false },
  EOS_SHUTTING_DOWN: { grpc: GRPC_STATUS.UNAVAILABLE, retryable: true },
  EOS_UNAVAILABLE: { grpc: GRPC_STATUS.UNAVAILABLE, retryable: true },
  EOS_DEADLINE_EXCEEDED: { grpc: GRPC_STATUS.DEADLINE_EXCEEDED, retryable: true },
  EOS_UNIMPLEMENTED: { grpc: GRPC_STATUS.UNIMPLEMENTED, retryable: false },
  EOS_EGRESS_BLOCKED: { grpc: GRPC_STATUS.PERMISSION_DENIED, retryable: false },
  EOS_EGRESS_LIMIT_EXCEEDED: { grpc: GRPC_STATUS.RESOURCE_EXHAUSTED, retryable: false },
  EOS_EGRESS_TIMEOUT: { grpc: GRPC_STATUS.DEADLINE_EXCEEDED, retryable: true },
  EOS_EGRESS_UPSTREAM_FAILED: { grpc: GRPC_STATUS.UNAVAILABLE, retryable: true },
  EOS_CREDENTIAL_DENIED: { grpc: GRPC_STATUS.PERMISSION_DENIED, retryable: false },
  EOS_VAULT_INSECURE: { grpc: GRPC_STATUS.FAILED_PRECONDITION, retryable: false },
  EOS_VAULT_CORRUPT: { grpc: GRPC_STATUS.DATA_LOSS, retryable: false },
  EOS_SANDBOX_UNAVAILABLE: { grpc: GRPC_STATUS.FAILED_PRECONDITION, retryable: false },
  EOS_LLM_PROVIDER_FAILED: { grpc: GRPC_STATUS.UNAVAILABLE, retryable: true },
  EOS_MODEL_NOT_ALLOWED: { grpc: GRPC_STATUS.PERMISSION_DENIED, retryable: false },
  EOS_BUDGET_EXCEEDED: { grpc: GRPC_STATUS.RESOURCE_EXHAUSTED, retryable: true },
  EOS_OUTPUT_BLOCKED: { grpc: GRPC_STATUS.FAILED_PRECONDITION, retryable: false },
  EOS_INPUT_REJECTED: { grpc: GRPC_STATUS.FAILED_PRECONDITION, retryable: false },
  EOS_INTEGRITY_FAILED: { grpc: GRPC_STATUS.DATA_LOSS, retryable: false },
  EOS_LEDGER_DEGRADED: { grpc: GRPC_STATUS.UNAVAILABLE, retryable: false },
  EOS_LEDGER_TAMPERED: { grpc: GRPC_STATUS.DATA_LOSS, retryable: false },
  EOS_LEDGER_REGRESSED: { grpc: GRPC_STATUS.FAILED_PRECONDITION, retryable: false },
  EOS_PREFLIGHT_FAILED: { grpc: GRPC_STATUS.FAILED_PRECONDITION, retryable: false },
  EOS_APPROVAL_REQUIRED: { grpc: GRPC_STATUS.FAILED_PRECONDITION, retryable: false },
  EOS_APPROVAL_INVALID: { grpc: GRPC_STATUS.PERMISSION_DENIED, retryable: false },
  EOS_APPROVAL_DENIED: { grpc: GRPC_STATUS.PERMISSION_DENIED, retryable: false },
  EOS_ESTOP_ACTIVE: { grpc: GRPC_STATUS.FAILED_PRECONDITION, retryable: false },
  EOS_AGENT_QUARANTINED: { grpc: GRPC_STATUS.FAILED_PRECONDITION, retryable: false },
  EOS_PACKAGE_INVALID: { grpc: GRPC_STATUS.INVALID_ARGUMENT, retryable: false },
  EOS_PACKAGE_INSTALL_FAILED: { grpc: GRPC_STATUS.UNAVAILABLE, retryable: true },
  EOS_INTERNAL: { grpc: GRPC_STATUS.INTERNAL, retryable: false },
} as const satisfies Record<string, { grpc: GrpcStatus; retryable: boolean }>;

/** One of the documented `EOS_*` codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Options for {@link EosError}. */
export interface EosErrorOptions {
  cause?: unknown;
  /** Structured, JSON-safe context; never secrets. */
  details?: Record<string, unknown>;
}

/**
 * Marks EosError instances of every copy of this module (the registry makes the symbol the same in
 * all of them): agent-host's bundled copy, the SDK's one-file main entry and this package's own.
 */
const EOS_ERROR_BRAND = Symbol.for('everythingos.proto.eos-error.v1');

/**
 * The one error class of eosd. Match on `code` (see {@link isEosError}), never on the message:
 * errors cross process boundaries and two copies of a package may be loaded. `instanceof EosError`
 * holds across such copies in one process (a brand on the prototype, as Temporal's
 * `SymbolBasedInstanceOfError`); for a subclass it is the ordinary prototype check.
 */
export class EosError extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    // A subclass (its prototype does not own the brand) gets the ordinary prototype check. Not
    // `this !== EosError`: bundlers rename a class that names itself in its body.
    if (!Object.hasOwn(this.prototype as object, EOS_ERROR_BRAND)) {
      return Function.prototype[Symbol.hasInstance].call(this, value);
    }
    return typeof value === 'object' && value !== null && (value as { [EOS_ERROR_BRAND]?: unknown })[EOS_ERROR_BRAND] === true;
  }

  override readonly name = 'EosError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  /** The brand `instanceof` checks; on the prototype, so it is not an own enumerable property. */
  get [EOS_ERROR_BRAND](): true {
    return true;
  }

  constructor(code: ErrorCode, message: string, options: EosErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  /** Whether the same call may succeed if retried later. */
  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }
}

/** Whether `value` is a known `EOS_*` code. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/**
 * Whether `err` carries an `EOS_*` code (optionally a given one). Checks the `code` property, not
 * the class, so it works on errors from another copy of this package.
 */
export function isEosError(err: unknown, code?: ErrorCode): err is EosError {
  if (typeof err !== 'object' || err === null) {
    return false;
  }
  const actual = (err as { code?: unknown }).code;
  return isErrorCode(actual) && (code === undefined || actual === code);
}
