import { loadPackageDefinition, type GrpcObject } from '@grpc/grpc-js';
import { loadSync, type Options, type PackageDefinition } from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { fileURLToPath } from 'node:url';
import type { ProtoGrpcType as AgentGrpcType } from './gen/agent.js';
import type { ProtoGrpcType as ControlGrpcType } from './gen/control.js';

/** Directory holding the `.proto` files (`eos/agent/v1/agent.proto`, …). */
export const PROTO_ROOT = fileURLToPath(new URL('../', import.meta.url));

export const AGENT_PROTO_FILE = 'eos/agent/v1/agent.proto';
export const CONTROL_PROTO_FILE = 'eos/control/v1/control.proto';
export const HELPER_PROTO_FILE = 'eos/helper/v1/helper.proto';

// Must match the flags in scripts/gen-proto-types.mjs, or the generated types lie.
const LOADER_OPTIONS: Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

let agentDefinition: PackageDefinition | undefined;
let controlDefinition: PackageDefinition | undefined;

/** The parsed `eos.agent.v1` package definition (loaded once, then cached). */
export function agentPackageDefinition(): PackageDefinition {
  agentDefinition ??= loadSync(AGENT_PROTO_FILE, LOADER_OPTIONS);
  return agentDefinition;
}

/** The parsed `eos.control.v1` package definition (loaded once, then cached). */
export function controlPackageDefinition(): PackageDefinition {
  controlDefinition ??= loadSync(CONTROL_PROTO_FILE, LOADER_OPTIONS);
  return controlDefinition;
}

/** grpc-js constructors for `eos.agent.v1`. */
export function loadAgentProto(): AgentGrpcType {
  return loadPackageDefinition(agentPackageDefinition()) as unknown as AgentGrpcType;
}

/** grpc-js constructors for `eos.control.v1`. */
export function loadControlProto(): ControlGrpcType {
  return loadPackageDefinition(controlPackageDefinition()) as unknown as ControlGrpcType;
}

/** Both packages in one object, for servers that reflect on everything they serve. */
export function loadAllProtos(): GrpcObject {
  return loadPackageDefinition({ ...agentPackageDefinition(), ...controlPackageDefinition() });
}

let bootstrapType: protobuf.Type | undefined;

/** The protobufjs type of `eos.agent.v1.BootstrapParams`, for framing the bootstrap pipe. */
export function bootstrapParamsType(): protobuf.Type {
  if (bootstrapType === undefined) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : PROTO_ROOT + target);
    root.loadSync(AGENT_PROTO_FILE, { keepCase: false });
    bootstrapType = root.lookupType('eos.agent.v1.BootstrapParams');
  }
  return bootstrapType;
}

let helperRoot: protobuf.Root | undefined;

function loadHelperRoot(): protobuf.Root {
  if (helperRoot === undefined) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : PROTO_ROOT + target);
    root.loadSync(HELPER_PROTO_FILE, { keepCase: false });
    helperRoot = root;
  }
  return helperRoot;
}

/** The protobufjs types of `eos.helper.v1.HelperFrame` and `SupervisorFrame`, for the helper socket. */
export function helperFrameTypes(): { helper: protobuf.Type; supervisor: protobuf.Type } {
  const root = loadHelperRoot();
  return { helper: root.lookupType('eos.helper.v1.HelperFrame'), supervisor: root.lookupType('eos.helper.v1.SupervisorFrame') };
}
