/** GET /__wstap/metrics: the Prometheus text format of the metrics sink (any Host: scrapers use service names). */
import type { MetricsSink } from '../sinks/metrics.js';
import type { Route } from './routes.js';

export const METRICS_PATH = '/__wstap/metrics';

export function metricsRoute(metrics: MetricsSink): Route {
  return {
    method: 'GET',
    path: METRICS_PATH,
    handle: async (_req, res) => {
      const { contentType, body } = await metrics.scrape();
      res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
      res.end(body);
    },
  };
}
