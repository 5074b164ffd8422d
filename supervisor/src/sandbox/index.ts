/**
 * Agent containment: seccomp filter generation, host probing and the fallback plan, per-agent
 * cgroups, the sandbox argv (sh cgroup-join → setpriv → bwrap → node), exit classification and
 * the disk-capped home image.
 *
 * @example
 * ```ts
 * const probe = await probeSandbox({ logger });
 * const plan = planSandbox(probe, { logger });                   // once, at daemon start
 * assertSandboxAllowed(plan, { id, tier }, { allowDegradedHighTier, logger });
 * const cg = await new CgroupManager({ layout: probe.cgroups!, logger }).create(id, limits);
 * const cmd = buildSandboxCommand({ mode: plan.mode, cgroupProcsFiles: cg.procsFiles(), ... });
 * ```
 * @module
 */
export {
  buildSandboxCommand,
  CGROUP_GATE_WORD,
  CGROUP_JOIN_FAILED_EXIT_CODE,
  type SandboxBind,
  type SandboxCommand,
  type SandboxCommandSpec,
  type SandboxMode,
  type SandboxProgram,
} from './build-sandbox-command.js';
export { AgentCgroup, CgroupManager, type CgroupLimits, type CgroupManagerOptions, type CgroupUsage } from './cgroup-manager.js';
export { detectCgroupLayout, type CgroupController, type CgroupLayout } from './cgroup-layout.js';
export { classifyExit, type ExitClassification, type ExitFacts, type ExitKind } from './classify-exit.js';
export { mountHomeImage, readMounts, unmountHomeImage, type HomeImageOptions, type MountEntry } from './home-image.js';
export { detectNodeRuntime, readElfInterpreter, type NodeRuntime } from './node-runtime.js';
export {
  assertSandboxAllowed,
  doctorReport,
  planSandbox,
  probeSandbox,
  REQUIRED_LAYERS,
  SANDBOX_FALLBACK_ORDER,
  SANDBOX_LAYERS,
  type AgentTier,
  type DoctorReport,
  type LayerStatus,
  type ProbeSandboxOptions,
  type SandboxLayer,
  type SandboxPlan,
  type SandboxProbe,
} from './probe-sandbox.js';
export {
  CLONE_NEW_MASK,
  currentSeccompArch,
  DENIED_SYSCALLS,
  generateSeccompFilter,
  SOCK_FILTER_SIZE_BYTES,
  type SeccompArch,
  type SeccompFilterOptions,
} from './seccomp-filter.js';
