/**
 * wstap's own health endpoint, under a reserved path that is never forwarded.
 * wstap is healthy when it runs; the target's reachability is reported beside it.
 */
import type http from 'node:http';
import net from 'node:net';
import type { Target } from '../wire/target.js';
import type { Route } from './routes.js';

export const HEALTH_PATH = '/__wstap/health';

export interface HealthReport {
  status: 'ok';
  target: { url: string; reachable: boolean; error?: string; connectMs?: number };
  uptimeSeconds: number;
}

/** Opens and closes a TCP connection to the target (no request is sent). */
export function probeTarget(target: Target, timeoutMs = 1000): Promise<HealthReport['target']> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect({ host: target.host, port: target.port });
    const done = (r: HealthReport['target']): void => {
      socket.destroy();
      resolve(r);
    };
    socket.setTimeout(timeoutMs, () => done({ url: target.url, reachable: false, error: `no connection within ${timeoutMs} ms` }));
    socket.once('connect', () => done({ url: target.url, reachable: true, connectMs: Math.round((performance.now() - started) * 100) / 100 }));
    socket.once('error', (err: NodeJS.ErrnoException) => done({ url: target.url, reachable: false, error: err.code ?? err.message }));
  });
}

/** GET /__wstap/health: 200 while wstap runs, with the target's reachability beside it. */
export function healthRoute(target: Target): Route {
  return {
    method: 'GET',
    path: HEALTH_PATH,
    async handle(_req: http.IncomingMessage, res: http.ServerResponse) {
      const report: HealthReport = { status: 'ok', target: await probeTarget(target), uptimeSeconds: Math.round(process.uptime()) };
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(`${JSON.stringify(report)}\n`);
    },
  };
}
