import type { Logger } from 'pino';
import { doctorReport, planSandbox, probeSandbox, SANDBOX_LAYERS, type DoctorReport } from '../sandbox/index.js';

/**
 * Checks this host the way the daemon does at start (same probe, same fixed fallback order) and
 * reports what an agent started now would get. Spawns a few short trial processes.
 */
export async function runDoctor(logger: Logger): Promise<DoctorReport> {
  const probe = await probeSandbox({ logger });
  return doctorReport(planSandbox(probe, { logger }));
}

/** Human-readable `eosd doctor` output: one line per layer, missing ones marked. */
export function renderDoctor(report: DoctorReport): string {
  const width = Math.max(...SANDBOX_LAYERS.map((l) => l.length));
  const lines = [`sandbox mode: ${report.mode}${report.full ? ' (full sandbox)' : ' (DEGRADED: HIGH-tier agents are refused without the override)'}`];
  for (const layer of SANDBOX_LAYERS) {
    const s = report.layers[layer];
    lines.push(`${s.active ? ' ok ' : 'MISS'}  ${layer.padEnd(width)}  ${s.detail}`);
  }
  return lines.join('\n');
}
