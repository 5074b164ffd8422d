import { status } from '@grpc/grpc-js';
import { loadSync, type MessageTypeDefinition, type Options, type ServiceDefinition as LoaderServiceDefinition } from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, GRPC_STATUS } from '../src/errors.js';
import {
  AGENT_PROTO_FILE,
  agentPackageDefinition,
  CONTROL_PROTO_FILE,
  controlPackageDefinition,
  HELPER_PROTO_FILE,
  helperFrameTypes,
  PROTO_ROOT,
  type PackageDefinition,
} from '../src/load.js';

// What load.ts did before the descriptors were precompiled: proto-loader parsing the .proto text.
const LOADER_OPTIONS: Options = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_ROOT] };

/** Sample messages, as callers write them, per request/response type name. */
const SAMPLES: Record<string, object> = {
  HelloRequest: { auth: { nonce: 7, timestampMs: Date.now(), mac: Buffer.alloc(32, 3), bodySha256: Buffer.alloc(32, 4) }, protocolVersion: 1, pid: 42 },
  SessionRequest: { emits: { emits: [{ auth: { nonce: 9 }, channel: 'demo.ping', body: Buffer.from('{"a":1}'), priority: 'PRIORITY_HIGH' }] } },
  ActRequest: { channel: 'x.act', body: Buffer.from('{}') },
  GetStatusResponse: {},
  ListAgentsResponse: { agents: [{ id: 'a', state: 'running', pid: 12, memoryBytes: 2 ** 40, startedAtMs: 1_700_000_000_000 }] },
};

function sampleFor(typeName: string): object {
  return SAMPLES[typeName] ?? {};
}

function compare(file: string, ours: PackageDefinition): void {
  const theirs = loadSync(file, LOADER_OPTIONS);
  const services = Object.entries(theirs).filter(([, v]) => !('format' in v)) as [string, LoaderServiceDefinition][];
  expect(Object.keys(ours).sort()).toEqual(services.map(([k]) => k).sort());
  for (const [name, svc] of services) {
    const mine = ours[name];
    expect(mine, name).toBeDefined();
    for (const [method, def] of Object.entries(svc)) {
      const m = mine?.[method];
      expect(m, `${name}.${method}`).toBeDefined();
      if (m === undefined) {
        continue;
      }
      expect({ path: m.path, requestStream: m.requestStream, responseStream: m.responseStream, originalName: m.originalName }).toEqual({
        path: def.path,
        requestStream: def.requestStream,
        responseStream: def.responseStream,
        originalName: def.originalName,
      });
      const reqName = ((def.requestType as MessageTypeDefinition<object, object>).type as { name: string }).name;
      const resName = ((def.responseType as MessageTypeDefinition<object, object>).type as { name: string }).name;
      for (const [sample, ser, de, theirSer, theirDe] of [
        [sampleFor(reqName), m.requestSerialize, m.requestDeserialize, def.requestSerialize, def.requestDeserialize],
        [sampleFor(resName), m.responseSerialize, m.responseDeserialize, def.responseSerialize, def.responseDeserialize],
      ] as const) {
        const bytes = Buffer.from(ser(sample));
        expect(bytes.equals(Buffer.from(theirSer(sample))), `${name}.${method} bytes`).toBe(true);
        expect(de(bytes), `${name}.${method} decoded`).toEqual(theirDe(bytes));
        // Empty bytes decode to the all-defaults object (defaults: true, oneofs: true).
        expect(de(Buffer.alloc(0))).toEqual(theirDe(Buffer.alloc(0)));
      }
    }
  }
}

describe('precompiled descriptors', () => {
  it('eos.agent.v1 services encode and decode exactly as proto-loader on the .proto text does', () => {
    compare(AGENT_PROTO_FILE, agentPackageDefinition());
  });

  it('eos.control.v1 services encode and decode exactly as proto-loader on the .proto text does', () => {
    compare(CONTROL_PROTO_FILE, controlPackageDefinition());
  });

  it('the helper frame types are the ones parsed from helper.proto', () => {
    const { helper, supervisor } = helperFrameTypes();
    const parsed = new protobuf.Root();
    parsed.resolvePath = (_origin, target) => (target.startsWith('/') ? target : PROTO_ROOT + target);
    parsed.loadSync(HELPER_PROTO_FILE, { keepCase: false });
    expect(helper.toJSON()).toEqual(parsed.lookupType('eos.helper.v1.HelperFrame').toJSON());
    expect(supervisor.toJSON()).toEqual(parsed.lookupType('eos.helper.v1.SupervisorFrame').toJSON());
  });

  it('keeps 64-bit integers as numbers and enums as names', () => {
    const def = agentPackageDefinition()['eos.agent.v1.AgentService']?.Session;
    const bytes = def?.requestSerialize({ emits: { emits: [{ auth: { nonce: 2 ** 40 }, channel: 'c', priority: 'PRIORITY_HIGH' }] } });
    const back = def?.requestDeserialize(Buffer.from(bytes ?? [])) as { emits: { emits: { auth: { nonce: unknown }; priority: unknown }[] } };
    expect(back.emits.emits[0]?.auth.nonce).toBe(2 ** 40);
    expect(back.emits.emits[0]?.priority).toBe('PRIORITY_HIGH');
  });
});

describe('error codes', () => {
  it('carry the same gRPC status numbers as grpc-js', () => {
    const names = Object.fromEntries(Object.entries(status).filter(([k]) => Number.isNaN(Number(k))));
    for (const [code, { grpc }] of Object.entries(ERROR_CODES)) {
      expect(Object.values(names), code).toContain(grpc);
    }
    expect(ERROR_CODES.EOS_NOT_FOUND.grpc).toBe(status.NOT_FOUND);
    expect(ERROR_CODES.EOS_VAULT_CORRUPT.grpc).toBe(status.DATA_LOSS);
    expect(ERROR_CODES.EOS_AGENT_FAILED.grpc).toBe(status.UNKNOWN);
    expect(ERROR_CODES.EOS_UNAUTHENTICATED.grpc).toBe(status.UNAUTHENTICATED);
    for (const [name, n] of Object.entries(GRPC_STATUS)) {
      expect(n, name).toBe(status[name as keyof typeof status]);
    }
  });
});
