import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { decodeBootstrap, encodeBootstrap } from '../src/bootstrap.js';
import { computeCallMac } from '../src/call-auth.js';
import { EosError, isEosError } from '../src/errors.js';
import { fromServiceError, toServiceError } from '../src/grpc-errors.js';
import { parseManifest } from '../src/manifest.js';

describe('bootstrap frame', () => {
  const b = { protocolVersion: 1, agentId: 'a1', socketPath: '/run/x.sock', sessionKey: Buffer.alloc(32, 7), packageDir: '/app' };

  it('round-trips', () => {
    expect(decodeBootstrap(encodeBootstrap(b))).toEqual(b);
  });

  it('rejects truncated frames, oversize lengths and short keys with EOS_INVALID_ARGUMENT', () => {
    const frame = encodeBootstrap(b);
    expect(() => decodeBootstrap(frame.subarray(0, frame.length - 1))).toThrow(expect.objectContaining({ code: 'EOS_INVALID_ARGUMENT' }));
    const huge = Buffer.from(frame);
    huge.writeUInt32BE(1 << 30, 0);
    expect(() => decodeBootstrap(huge)).toThrow(expect.objectContaining({ code: 'EOS_INVALID_ARGUMENT' }));
    expect(() => decodeBootstrap(encodeBootstrap({ ...b, sessionKey: Buffer.alloc(16) }))).toThrow(
      expect.objectContaining({ code: 'EOS_INVALID_ARGUMENT' }),
    );
  });
});

describe('computeCallMac', () => {
  const key = Buffer.alloc(32, 1);
  it('binds method, channel, nonce, timestamp and body', () => {
    const base = computeCallMac(key, 'Emit', 'c', 1, 1000, Buffer.from('x'));
    expect(computeCallMac(key, 'Emit', 'c', 1, 1000, Buffer.from('x'))).toEqual(base);
    for (const other of [
      computeCallMac(key, 'Act', 'c', 1, 1000, Buffer.from('x')),
      computeCallMac(key, 'Emit', 'd', 1, 1000, Buffer.from('x')),
      computeCallMac(key, 'Emit', 'c', 2, 1000, Buffer.from('x')),
      computeCallMac(key, 'Emit', 'c', 1, 1001, Buffer.from('x')),
      computeCallMac(key, 'Emit', 'c', 1, 1000, Buffer.from('y')),
      computeCallMac(Buffer.alloc(32, 2), 'Emit', 'c', 1, 1000, Buffer.from('x')),
    ]) {
      expect(other.equals(base)).toBe(false);
    }
  });
});

describe('gRPC error mapping', () => {
  it('carries the EOS code across toServiceError/fromServiceError', () => {
    const se = toServiceError(new EosError('EOS_RATE_LIMITED', 'slow down'));
    expect(se.code).toBe(status.RESOURCE_EXHAUSTED);
    const back = fromServiceError({ ...se, message: '8 RESOURCE_EXHAUSTED: slow down', name: 'Error' });
    expect(back).toMatchObject({ code: 'EOS_RATE_LIMITED', message: 'slow down' });
    expect(isEosError(back, 'EOS_RATE_LIMITED')).toBe(true);
  });

  it('hides non-EOS errors as EOS_INTERNAL and maps bare statuses', () => {
    expect(toServiceError(new Error('secret detail')).details).toBe('internal error');
    expect(fromServiceError({ code: status.UNAVAILABLE, details: 'No connection established' })).toMatchObject({ code: 'EOS_UNAVAILABLE' });
  });
});

describe('parseManifest', () => {
  it('reports every problem at once with EOS_MANIFEST_INVALID', () => {
    try {
      parseManifest({ id: 'X', name: '', version: '1', description: 'short', tier: 'high', publish: ['a.*'], extra: 1 }, 'test');
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: 'EOS_MANIFEST_INVALID' });
      const paths = ((err as EosError).details?.issues as { path: string }[]).map((i) => i.path);
      expect(paths).toEqual(expect.arrayContaining(['id', 'name', 'version', 'description', 'publish.0', '']));
    }
  });

  it('requires a justification for high tier and rejects wildcards and repeats', () => {
    expect(() => parseManifest({ id: 'x', name: 'X', version: '1.0.0', description: 'long enough text', tier: 'high' }, 't')).toThrow(/riskJustification/);
    expect(() => parseManifest({ id: 'x', name: 'X', version: '1.0.0', description: 'long enough text', tier: 'low', subscribe: ['*'] }, 't')).toThrow(
      /subscribe/,
    );
    expect(() =>
      parseManifest({ id: 'x', name: 'X', version: '1.0.0', description: 'long enough text', tier: 'low', publish: ['a.b', 'a.b'] }, 't'),
    ).toThrow(/repeat/);
    expect(parseManifest({ id: 'x', name: 'X', version: '1.0.0', description: 'long enough text', tier: 'low' }, 't')).toMatchObject({
      publish: [],
      subscribe: [],
      tickRateMs: 0,
    });
  });
});
