/**
 * @module @everythingos/ebpf-helper
 *
 * The ebpf-helper process: tails a Glasswally output directory (tail mode) or watches the agent
 * uid range in the kernel with bpftrace (kernel mode), and forwards what it sees to the
 * supervisor as `eos.helper.v1` frames. The supervisor spawns its bin, `bin/ebpf-helper.js`;
 * this entry exposes the bin's path and the parsers for tools and tests.
 *
 * ```ts
 * import { HELPER_BIN } from '@everythingos/ebpf-helper';
 * spawn(process.execPath, [HELPER_BIN, '--mode', 'tail', '--socket', sock, '--dir', dir]);
 * ```
 */
import { fileURLToPath } from 'node:url';

/** Absolute path of the helper's bin (built JS), to spawn with `process.execPath`. */
export const HELPER_BIN = fileURLToPath(new URL('./bin/ebpf-helper.js', import.meta.url));
/** Absolute path of the bpftrace watcher script. */
export const WATCH_SCRIPT = fileURLToPath(new URL('../bpf/eosd-watch.bt', import.meta.url));
export { parseBpftraceLine, parseRecord } from './parse-bpftrace-record.js';
export type { BpftraceLine, KernelRecord } from './parse-bpftrace-record.js';
export { LineAssembler } from './line-assembler.js';
export type { AssembledLines } from './line-assembler.js';
export { runHelper } from './run-helper.js';
export type { HelperRunOptions } from './run-helper.js';
