import { describe, expect, it } from 'vitest';
import { classifyAddress, classifyHostname } from '../src/security/egress/address-policy.js';

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.1.1', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['168.63.129.16', 'metadata'],
    ['100.64.0.1', 'cgnat'],
    ['224.0.0.1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fd00::1', 'unique-local'],
    ['fc00::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['fd00:ec2::254', 'metadata'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:10.0.0.1', 'private'],
    ['::127.0.0.1', 'loopback'],
    ['::8.8.8.8', 'ipv4-embedded'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b:1::1', 'ipv4-embedded'],
    ['2002:7f00:1::', 'ipv4-embedded'],
    ['fe80::1%eth0', 'unparseable'],
    ['not-an-ip', 'unparseable'],
  ])('blocks %s as %s', (address, blockedClass) => {
    expect(classifyAddress(address)).toEqual({ allowed: false, blockedClass });
  });

  it.each(['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808'])(
    'allows global unicast %s',
    (address) => {
      expect(classifyAddress(address)).toEqual({ allowed: true });
    },
  );
});

describe('classifyHostname', () => {
  it.each([
    ['localhost', 'loopback'],
    ['LOCALHOST.', 'loopback'],
    ['a.b.localhost', 'loopback'],
    ['metadata.google.internal', 'metadata'],
    ['metadata.google.internal.', 'metadata'],
    ['[::1]', 'loopback'],
  ])('blocks %s as %s', (host, blockedClass) => {
    expect(classifyHostname(host)).toEqual({ allowed: false, blockedClass });
  });

  it('leaves other names to the dial-time check', () => {
    expect(classifyHostname('api.github.com')).toEqual({ allowed: true });
  });
});
