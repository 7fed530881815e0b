/**
 * wstap's own health endpoint, under a reserved path that is never forwarded.
 * wstap is healthy when it runs; the target's reachability is reported beside it.
 */
import type http from 'node:http';
import { probeConnect } from '../upgrade/upstream.js';
import type { Target } from '../wire/target.js';
import type { Route } from './routes.js';

export const HEALTH_PATH = '/__wstap/health';

export interface HealthReport {
  status: 'ok';
  target: { url: string; reachable: boolean; error?: string; connectMs?: number };
  uptimeSeconds: number;
}

/** GET /__wstap/health: 200 while wstap runs, with the target's reachability beside it. */
export function healthRoute(target: Target): Route {
  return {
    method: 'GET',
    path: HEALTH_PATH,
    async handle(_req: http.IncomingMessage, res: http.ServerResponse) {
      const report: HealthReport = {
        status: 'ok',
        target: { url: target.url, ...(await probeConnect(target, 1000)) },
        uptimeSeconds: Math.round(process.uptime()),
      };
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(`${JSON.stringify(report)}\n`);
    },
  };
}
