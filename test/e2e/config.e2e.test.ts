import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runEosd, tmpDir } from './helpers/daemon.js';

async function writeAgent(dir: string, name: string, manifest: unknown): Promise<string> {
  const pkg = join(dir, name);
  await mkdir(pkg, { recursive: true });
  await writeFile(join(pkg, 'package.json'), JSON.stringify({ name, version: '1.0.0', type: 'module', main: 'index.js', everythingos: manifest }));
  await writeFile(join(pkg, 'index.js'), 'export default class {}\n');
  return pkg;
}

describe('configuration', () => {
  it('lists every config problem at once and exits 78 without starting', async () => {
    const dir = await tmpDir();
    const config = join(dir, 'eosd.yaml');
    await writeFile(
      config,
      [
        'dev: true',
        `stateDir: ${dir}/s`,
        'colour: blue',
        'agents:',
        '  - id: Bad_Id',
        '    package: ./x',
        '    tier: low',
        '  - id: ok',
        '    package: ./y',
        '    tier: extreme',
        '    stopGraceMs: -5',
      ].join('\n'),
    );
    const res = await runEosd(['start', '--config', config]);
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('EOS_CONFIG_INVALID');
    expect(res.stderr).toContain('colour');
    expect(res.stderr).toMatch(/agents\[0\]\.id|agents\.0\.id/);
    expect(res.stderr).toMatch(/agents\[1\]\.tier|agents\.1\.tier/);
    expect(res.stderr).toMatch(/agents\[1\]\.stopGraceMs|agents\.1\.stopGraceMs/);
    await expect(access(join(dir, 's', 'run', 'control.sock'))).rejects.toThrow();
  });

  it('lists every manifest problem of every agent and does not start half-configured', async () => {
    const dir = await tmpDir();
    const good = await writeAgent(dir, 'good', {
      id: 'good',
      name: 'Good',
      version: '1.0.0',
      description: 'A valid manifest next to broken ones.',
      tier: 'low',
    });
    const wildcard = await writeAgent(dir, 'wild', {
      id: 'wild',
      name: 'Wild',
      version: '1.0.0',
      description: 'short',
      tier: 'low',
      publish: ['alerts.*'],
      unknownField: true,
    });
    const high = await writeAgent(dir, 'high', { id: 'high', name: 'High', version: '1.0.0', description: 'High tier without a justification.', tier: 'high' });
    const config = join(dir, 'eosd.json');
    await writeFile(
      config,
      JSON.stringify({
        dev: true,
        stateDir: join(dir, 's'),
        agents: [
          { id: 'good', package: good, tier: 'low' },
          { id: 'wild', package: wildcard, tier: 'low' },
          { id: 'high', package: high, tier: 'high' },
          { id: 'gone', package: join(dir, 'missing'), tier: 'low' },
          { id: 'mismatch', package: good, tier: 'medium' },
        ],
      }),
    );
    const res = await runEosd(['start', '--config', config]);
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('EOS_CONFIG_INVALID');
    expect(res.stderr).toContain('agent "wild"');
    expect(res.stderr).toContain('description');
    expect(res.stderr).toContain('publish');
    expect(res.stderr).toContain('unknownField');
    expect(res.stderr).toContain('agent "high"');
    expect(res.stderr).toContain('riskJustification');
    expect(res.stderr).toContain('agent "gone"');
    expect(res.stderr).toContain('agent "mismatch"');
    expect(res.stderr).not.toContain('agent "good"');
    await expect(access(join(dir, 's', 'run', 'control.sock'))).rejects.toThrow();
  });
});
