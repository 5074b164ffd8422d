import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DaemonMetrics } from '../src/metrics/daemon-metrics.js';

const dashboard = JSON.parse(readFileSync(new URL('../../docs/operations/grafana-dashboard.json', import.meta.url), 'utf8')) as {
  panels: { title: string; targets: { expr: string }[] }[];
};

describe('Grafana dashboard', () => {
  it('queries only metric families the daemon exports', async () => {
    const m = new DaemonMetrics();
    const families = new Set((await m.registry.getMetricsAsJSON()).map((f) => f.name));
    const known = (name: string): boolean =>
      families.has(name) || families.has(name.replace(/_(bucket|sum|count)$/, ''));
    const used = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/\b((?:eosd|process|nodejs)_[a-z0-9_]+)\b/g)].map((x) => x[1]!)));
    expect(used.length).toBeGreaterThan(20);
    expect(used.filter((n) => !known(n))).toEqual([]);
  });

  it('covers every eosd metric family', async () => {
    const m = new DaemonMetrics({ defaultMetrics: false });
    const text = JSON.stringify(dashboard);
    const missing = (await m.registry.getMetricsAsJSON()).map((f) => f.name).filter((n) => !text.includes(n));
    expect(missing).toEqual([]);
  });
});
