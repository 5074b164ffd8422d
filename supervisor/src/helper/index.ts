/**
 * The supervisor's side of the ebpf-helper: spawn and supervise it ({@link startHelper}),
 * validate everything it sends ({@link HelperEventValidator}). Not wired into the daemon yet.
 */
export { startHelper, buildHelperCommand, HelperOptionsSchema, KERNEL_MODE_CAPS } from './start-helper.js';
export type { HelperOptions, HelperOptionsInput, HelperDeps, HelperHandle } from './start-helper.js';
export { HelperEventValidator, SOC_CHANNELS, SOC_SEVERITIES } from './helper-event-validator.js';
export type { HelperEventValidatorOptions, SocAlert, SocPublication, SocSeverity, AgentIdentity, ValidatorCounters } from './helper-event-validator.js';
export { sanitizeText, sanitizeIdentifier } from './sanitize-text.js';
