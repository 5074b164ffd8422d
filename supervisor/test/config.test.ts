import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load-config.js';

describe('parseConfig', () => {
  it('applies defaults, resolves paths and freezes the result', () => {
    const c = parseConfig({ dev: true, agents: [{ id: 'a', package: 'pkgs/a', tier: 'low' }] }, 'test', '/etc/eosd');
    expect(c.stateDir).toBe('/etc/eosd/.eosd');
    expect(c.runDir).toBe('/etc/eosd/.eosd/run');
    expect(c.agents[0]).toMatchObject({ package: '/etc/eosd/pkgs/a', restart: 'permanent', stopGraceMs: 5_000, intensity: { maxRestarts: 5 } });
    expect(Object.isFrozen(c.agents[0]?.backoff)).toBe(true);
    expect(parseConfig({}, 'test', '/x')).toMatchObject({ stateDir: '/var/lib/eosd', runDir: '/run/eosd', dev: false });
  });

  it('reports unknown keys, bad values and duplicate ids together with EOS_CONFIG_INVALID', () => {
    try {
      parseConfig(
        { colour: 1, agents: [{ id: 'a', package: 'x', tier: 'low', restart: 'always' }, { id: 'a', package: 'y', tier: 'low' }] },
        'test',
        '/x',
      );
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: 'EOS_CONFIG_INVALID' });
      const msg = (err as Error).message;
      expect(msg).toContain('colour');
      expect(msg).toContain('restart');
    }
    expect(() => parseConfig({ agents: [{ id: 'a', package: 'x', tier: 'low' }, { id: 'a', package: 'y', tier: 'low', stopGraceMs: 1 }] }, 't', '/')).toThrow(
      /duplicate agent id "a"/,
    );
  });

  it('refuses a runDir that makes agent socket paths too long', () => {
    expect(() => parseConfig({ runDir: `/${'x'.repeat(90)}`, agents: [{ id: 'agent-with-a-long-name', package: 'x', tier: 'low' }] }, 't', '/')).toThrow(
      /socket paths would be \d+ bytes; the limit is 107/,
    );
  });

  it('lets --state-dir move the dev layout', () => {
    expect(parseConfig({ dev: true }, 't', '/x', { stateDir: '/tmp/s' })).toMatchObject({ stateDir: '/tmp/s', runDir: '/tmp/s/run' });
  });
});
