import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { EosError } from '@everythingos/proto';
import type { DaemonMetrics } from './daemon-metrics.js';

/**
 * Serves `GET /metrics` (Prometheus text format) and nothing else, on the configured address.
 * @throws EosError `EOS_UNAVAILABLE` when the address cannot be bound.
 */
export async function startMetricsServer(
  metrics: DaemonMetrics,
  address: { host: string; port: number },
  log: Logger,
  beforeScrape?: () => Promise<void>,
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    void (async () => {
      try {
        await beforeScrape?.();
        const body = await metrics.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body);
      } catch (err) {
        log.error({ err }, 'metrics scrape failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('scrape failed\n');
      }
    })();
  });
  server.listen(address.port, address.host);
  try {
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([err]) => {
        throw err;
      }),
    ]);
  } catch (err) {
    throw new EosError('EOS_UNAVAILABLE', `cannot serve metrics on ${address.host}:${address.port}: ${(err as Error).message}`, { cause: err });
  }
  const a = server.address() as { port: number; address: string; family: string };
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    server,
    url: `http://${host}:${a.port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
