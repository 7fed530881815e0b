/**
 * The Prometheus metrics (issue 15, part): a run with known traffic through a real proxy (real
 * ws backend, real ws clients, plain HTTP requests) has the expected counts at
 * /__wstap/metrics, in a text Prometheus's own promtool accepts; a scraper's Host (a compose
 * service name) is served; no label carries a path, an id or an address.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../support/process.js';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { MetricsSink } from '../../src/sinks/metrics.js';
import { startWsServer } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { openTestProxy, type TestProxy } from '../support/helpers.js';
import { closeClient, openClient } from '../support/recording.js';
import { until } from '../support/wait.js';

afterEach(runDeferred);

function scrape(tp: TestProxy, host = `127.0.0.1:${tp.port}`): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: tp.port, path: '/__wstap/metrics', headers: { Host: host } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
      })
      .on('error', reject);
  });
}

/** The value of one series: name{labels} exactly as exposed (labels in the order given). */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const PROMTOOL = '/usr/bin/promtool';

describe('Prometheus metrics', () => {
  it('a run with known traffic has the expected counts, and promtool check metrics accepts the text', async () => {
    const backend = await startWsServer({ verifyClient: (info: { req: http.IncomingMessage }) => !info.req.url?.startsWith('/deny') });
    backend.wss.on('connection', (ws, req) => {
      if (req.url === '/closing') {
        ws.close(4001, 'go away');
        return;
      }
      ws.on('message', (d) => {
        const m = JSON.parse(d.toString()) as { id: number };
        ws.send(JSON.stringify({ id: m.id, ok: true }));
        if (m.id === 3) ws.ping('hb');
      });
    });
    const metrics = new MetricsSink();
    const tp = await openTestProxy({ target: backend.url, metrics, sinks: [metrics] });

    const a = await openClient(tp.wsUrl('/ws'), [], { headers: { Origin: 'http://localhost:3000' } });
    for (let id = 1; id <= 3; id++) await a.ask(JSON.stringify({ id }));
    const during = await scrape(tp);
    expect(value(during.body, 'wstap_sessions_open')).toBe(1);
    await closeClient(a);
    const b = await openClient(tp.wsUrl('/closing'));
    await b.closed;
    await expect(openClient(tp.wsUrl('/deny'))).rejects.toThrow(/401/);
    for (let i = 0; i < 2; i++) await fetch(`http://127.0.0.1:${tp.port}/plain-http`).then((r) => r.text());
    await tp.nextEnd();
    await tp.nextEnd();

    const m = await until(async () => {
      const s = await scrape(tp);
      return value(s.body, 'wstap_http_requests_total{status_class="4xx"}') === 2 ? s : undefined;
    }, 'the HTTP requests counted');
    expect(m.status).toBe(200);
    expect(m.type).toContain('text/plain');
    const t = m.body;
    expect(value(t, 'wstap_sessions_total{outcome="tunnel"}')).toBe(2);
    expect(value(t, 'wstap_sessions_total{outcome="rejected"}')).toBe(1);
    expect(value(t, 'wstap_sessions_total{outcome="failed"}')).toBe(0);
    expect(value(t, 'wstap_sessions_open')).toBe(0);
    expect(value(t, 'wstap_closes_total{code="1000",initiator="client"}')).toBe(1);
    expect(value(t, 'wstap_closes_total{code="4001",initiator="server"}')).toBe(1);
    expect(value(t, 'wstap_findings_total{code="upgrade-rejected",severity="error"}')).toBe(1);
    expect(value(t, 'wstap_findings_total{code="origin-missing",severity="info"}')).toBe(2);
    // Session a: 3 requests, 3 answers, a ping and its pong, the close each way; session b: the close each way.
    expect(value(t, 'wstap_messages_total{direction="client_to_server"}')).toBe(3 + 1 + 1 + 1);
    expect(value(t, 'wstap_messages_total{direction="server_to_client"}')).toBe(3 + 1 + 1 + 1);
    const wire = tp.ends.reduce((n, e) => n + (e.end.ws?.traffic.client.wireBytes ?? 0), 0);
    expect(value(t, 'wstap_message_bytes_total{direction="client_to_server"}')).toBe(wire);
    expect(value(t, 'wstap_response_latency_seconds_count')).toBe(3);
    expect(value(t, 'wstap_ping_rtt_seconds_count')).toBe(1);
    expect(value(t, 'wstap_handshake_duration_seconds_count')).toBe(3);
    expect(value(t, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    // Bounded labels: no path, session id or address in any series.
    expect(t).not.toMatch(/\/ws|\/closing|\/deny|ws-1|127\.0\.0\.1/);
    if (existsSync(PROMTOOL) || process.env['CI']) {
      // promtool exits non-zero on any problem (CI installs Debian's prometheus package for it).
      expect(execFileSync(PROMTOOL, ['check', 'metrics'], { input: t }).toString()).toBe('');
    }
  });

  it('a scraper may use any Host (a compose service name), as for the health check; the API may not', async () => {
    const backend = await startWsServer();
    const metrics = new MetricsSink();
    const tp = await openTestProxy({ target: backend.url, metrics, sinks: [metrics] });
    expect((await scrape(tp, 'wstap:8001')).status).toBe(200);
    const api = await new Promise<number>((resolve) =>
      http.get({ host: '127.0.0.1', port: tp.port, path: '/__wstap/api/faults', headers: { Host: 'wstap:8001' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }),
    );
    expect(api).toBe(421);
  });

  it("examples/metrics: the Grafana dashboard asks only for series wstap exposes, and Prometheus's own config check accepts the scrape config", async () => {
    const backend = await startWsServer();
    const metrics = new MetricsSink();
    const tp = await openTestProxy({ target: backend.url, metrics, sinks: [metrics] });
    // The metric families wstap declares (a family with no series yet is declared too).
    const families = new Set(
      (await scrape(tp)).body
        .split('\n')
        .filter((l) => l.startsWith('# TYPE '))
        .map((l) => l.split(' ')[2]!),
    );
    const dash = JSON.parse(readFileSync(path.join(ROOT, 'examples/metrics/wstap-dashboard.json'), 'utf8')) as {
      panels: { targets: { expr: string }[] }[];
    };
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(8);
    const named = new Set(exprs.flatMap((e) => e.match(/\b(?:wstap|process)_[a-z_]+/g) ?? []));
    for (const name of named) expect(families, name).toContain(name.replace(/_(bucket|sum|count)$/, ''));
    if (existsSync(PROMTOOL) || process.env['CI']) {
      expect(execFileSync(PROMTOOL, ['check', 'config', path.join(ROOT, 'examples/metrics/prometheus.yml')]).toString()).toContain('SUCCESS');
    }
  });
});
