/**
 * Ordinary HTTP through the real launcher with the backend down: a request gets a 502 that
 * names the cause (whether its body was read or is still arriving), and an http-error line.
 */
import http from 'node:http';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startJsonProxy } from '../support/cli.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { refusedPort } from '../support/helpers.js';
import { ensureBuilt } from '../support/process.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Sends one request; gives up (rejects) after limitMs so that a request left unanswered fails the test quickly. */
function request(port: number, opts: { method?: string; path: string; body?: 'hold' }, limitMs = 2000): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: opts.path, method: opts.method ?? 'GET', agent: false }, (r) => {
      let body = '';
      r.setEncoding('utf8').on('data', (d: string) => (body += d));
      r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body }));
      r.on('error', reject);
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to ${opts.method ?? 'GET'} ${opts.path} within ${limitMs} ms`));
    }, limitMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    if (opts.body === 'hold') {
      // A body that has started but not finished: the request stream is still open.
      req.setHeader('Content-Type', 'application/json');
      req.write('{"partial":');
    } else {
      req.end();
    }
    defer(() => void req.destroy());
  });
}

function expect502(res: HttpAnswer, down: number): void {
  expect(res.status).toBe(502);
  expect(res.headers['x-wstap']).toBe('upstream-error');
  expect(res.body).toContain(`127.0.0.1:${down}`);
  expect(res.body).toMatch(/refused/i);
  expect(res.body).toContain('ECONNREFUSED');
}

describe('ordinary HTTP', () => {
  // Regression: http-forward.ts once took req.destroyed for "the client has gone", but on Node 20 a
  // request whose body has been read to the end is auto-destroyed, so a GET never got its 502.
  it('a backend that is down: a GET gets a 502 whose body names the cause, and an http-error log line', async () => {
    const down = await refusedPort();
    const { w, port } = await startJsonProxy(['--target', `http://127.0.0.1:${down}`]);
    const res = await request(port, { path: '/health' });
    expect502(res, down);
    const line = await w.waitForJson((l) => l['event'] === 'http-error', 'the http-error line');
    expect(line).toMatchObject({ method: 'GET', path: '/health', finding: { code: 'upstream-refused' } });
  });

  it('a backend that is down: a request still sending its body gets a 502 that names the cause, and an http-error log line', async () => {
    const down = await refusedPort();
    const { w, port } = await startJsonProxy(['--target', `http://127.0.0.1:${down}`]);
    const res = await request(port, { method: 'POST', path: '/api/items?token=s3cr3t-t0ken-value', body: 'hold' });
    expect502(res, down);
    expect(res.body).not.toContain('s3cr3t-t0ken-value');
    const line = await w.waitForJson((l) => l['event'] === 'http-error', 'the http-error line');
    expect(line).toMatchObject({ method: 'POST', finding: { code: 'upstream-refused', severity: 'error' }, midResponse: false });
    expect(line['path']).toBe('/api/items?token=[redacted]');
    expect(w.stdout()).not.toContain('s3cr3t-t0ken-value');
  });
});
