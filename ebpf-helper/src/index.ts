/**
 * @module @everythingos/ebpf-helper
 *
 * Placeholder for the privileged helper process (Glasswally tail mode and kernel mode). Its issue
 * fills this package; until then the supervisor does not spawn it.
 */
export const HELPER_PROTOCOL = 'eos.helper.v1';
