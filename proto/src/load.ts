import { loadPackageDefinition, type GrpcObject, type MethodDefinition, type ServiceDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs/light.js';
import { fileURLToPath } from 'node:url';
import { CONTROL_DESCRIPTOR_JSON, HELPER_DESCRIPTOR_JSON } from './gen/descriptors.js';
import type { ProtoGrpcType as AgentGrpcType } from './gen/agent.js';
import type { ProtoGrpcType as ControlGrpcType } from './gen/control.js';
import { agentRoot, deserializer, rootFromJson, serializer } from './message-codecs.js';

export { agentMessageType, genericDeserializer, genericSerializer } from './message-codecs.js';

/** Directory holding the `.proto` files (`eos/agent/v1/agent.proto`, …), shipped for reference and codegen. */
export const PROTO_ROOT = fileURLToPath(new URL('../', import.meta.url));

export const AGENT_PROTO_FILE = 'eos/agent/v1/agent.proto';
export const CONTROL_PROTO_FILE = 'eos/control/v1/control.proto';
export const HELPER_PROTO_FILE = 'eos/helper/v1/helper.proto';

/**
 * The services of one proto package set, keyed by fully qualified service name, as grpc-js's
 * `loadPackageDefinition` takes them. Message types are not listed: nothing looks them up.
 */
export type PackageDefinition = Record<string, ServiceDefinition>;

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

/**
 * grpc-js service definitions from protobufjs reflection: the same paths, stream flags,
 * codecs (`fromObject` + `encode`, `decode` + `toObject` with the options above; the Session
 * frames through the precompiled codec of session-codec.ts, same bytes and objects) and
 * camelCase method aliases as `@grpc/proto-loader` produces.
 */
function packageDefinition(root: protobuf.Root): PackageDefinition {
  const out: PackageDefinition = {};
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Service) {
        const name = obj.fullName.replace(/^\./, '');
        const def: Record<string, MethodDefinition<object, object>> = {};
        for (const m of obj.methodsArray) {
          const req = m.resolvedRequestType as protobuf.Type;
          const res = m.resolvedResponseType as protobuf.Type;
          def[m.name] = {
            path: `/${name}/${m.name}`,
            requestStream: m.requestStream === true,
            responseStream: m.responseStream === true,
            requestSerialize: serializer(req),
            requestDeserialize: deserializer(req),
            responseSerialize: serializer(res),
            responseDeserialize: deserializer(res),
            originalName: lowerFirst(m.name),
          };
        }
        out[name] = def;
      } else if (obj instanceof protobuf.Namespace) {
        visit(obj);
      }
    }
  };
  visit(root);
  return out;
}

let agentDefinition: PackageDefinition | undefined;
let controlDefinition: PackageDefinition | undefined;

/** The `eos.agent.v1` services (built once, then cached). */
export function agentPackageDefinition(): PackageDefinition {
  agentDefinition ??= packageDefinition(agentRoot());
  return agentDefinition;
}

/** The `eos.control.v1` services (built once, then cached). */
export function controlPackageDefinition(): PackageDefinition {
  controlDefinition ??= packageDefinition(rootFromJson(CONTROL_DESCRIPTOR_JSON));
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

let helperRoot: protobuf.Root | undefined;

/** The protobufjs types of `eos.helper.v1.HelperFrame` and `SupervisorFrame`, for the helper socket. */
export function helperFrameTypes(): { helper: protobuf.Type; supervisor: protobuf.Type } {
  helperRoot ??= rootFromJson(HELPER_DESCRIPTOR_JSON);
  return { helper: helperRoot.lookupType('eos.helper.v1.HelperFrame'), supervisor: helperRoot.lookupType('eos.helper.v1.SupervisorFrame') };
}
