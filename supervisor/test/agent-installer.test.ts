import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { integrityOf, registryDependencies } from '../src/packages/agent-installer.js';

describe('registryDependencies', () => {
  it('keeps registry specs, drops the SDK and optional peers', () => {
    expect(
      registryDependencies(
        {
          dependencies: { '@everythingos/sdk': '^0.1.0', lodash: '^4.17.21', chalk: 'latest', alias: 'npm:left-pad@1.3.0', scoped: 'npm:@scope/pkg' },
          optionalDependencies: { fsevents: '2.3.3' },
          peerDependencies: { zod: '>=3', react: '18.x' },
          peerDependenciesMeta: { react: { optional: true } },
        },
        '0.1.0',
      ),
    ).toEqual({ lodash: '^4.17.21', chalk: 'latest', alias: 'npm:left-pad@1.3.0', scoped: 'npm:@scope/pkg', fsevents: '2.3.3', zod: '>=3' });
  });

  it('accepts an SDK spec that is not a range (workspace:, file:) and uses the daemon SDK', () => {
    expect(registryDependencies({ dependencies: { '@everythingos/sdk': 'workspace:*' } }, '0.1.0')).toEqual({});
  });

  it('refuses git, URL, file and link specs, other @everythingos packages and an SDK range the daemon does not satisfy, listing each', () => {
    let err: unknown;
    try {
      registryDependencies(
        {
          dependencies: {
            a: 'git+https://example.com/a.git',
            b: 'https://example.com/b.tgz',
            c: 'file:../c',
            d: 'link:../d',
            e: 'user/repo',
            f: 'npm:git+https://x/y',
            '@everythingos/proto': '0.1.0',
            '@everythingos/sdk': '^2.0.0',
          },
        },
        '0.1.0',
      );
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'EOS_PACKAGE_INVALID' });
    const problems = (err as { details: { problems: string[] } }).details.problems;
    expect(problems).toHaveLength(8);
    expect(problems.join('\n')).toMatch(/@everythingos\/sdk is "\^2\.0\.0"; this eosd provides @everythingos\/sdk 0\.1\.0/);
  });

  it('refuses a dependencies field that is not an object', () => {
    expect(() => registryDependencies({ dependencies: ['x'] }, '0.1.0')).toThrow(expect.objectContaining({ code: 'EOS_PACKAGE_INVALID' }));
  });
});

describe('integrityOf', () => {
  it('is the SRI sha512 npm writes', () => {
    const data = Buffer.from('tarball bytes');
    expect(integrityOf(data)).toBe(`sha512-${createHash('sha512').update(data).digest('base64')}`);
    expect(integrityOf(data)).toMatch(/^sha512-[A-Za-z0-9+/]{86}==$/);
  });
});
