/**
 * `wstap demo` through the real launcher: the guide's scenarios end to end, every finding
 * shown and a healthy tunnel, in JSON and pretty logs.
 */
import net from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { findingCodes, runWstap, startWstap, type LogLine } from '../support/cli.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { ensureBuilt } from '../support/process.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

describe('wstap demo', () => {
  it('--log-format json: exits 0 and shows every finding of the guide and a healthy tunnel', { timeout: 15_000 }, async () => {
    const r = await runWstap(['demo', '--port', '0', '--log-format', 'json'], {}, 12_000);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as LogLine);
    const handshakes = lines.filter((l) => l['event'] === 'handshake');
    const codes = new Set(handshakes.flatMap(findingCodes));
    for (const c of [
      'auth-missing',
      'auth-expired',
      'origin-disallowed',
      'origin-duplicate',
      'upgrade-rejected',
      'upstream-refused',
      'upstream-dns',
    ]) {
      expect(codes, c).toContain(c);
    }
    expect(handshakes.some((l) => l['outcome'] === 'tunnel')).toBe(true);
    expect(lines.some((l) => l['event'] === 'session-end')).toBe(true);
  });

  it('--log-format pretty: exits 0 and shows fix: lines', { timeout: 15_000 }, async () => {
    const r = await runWstap(['demo', '--port', '0', '--log-format', 'pretty'], {}, 12_000);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\s+fix: /m);
    expect(r.stdout).not.toMatch(/\u001b\[/);
  });

  it('a busy --backend-port: one line that names the port and the option, exit 1, no stack trace', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    defer(() => new Promise<void>((r) => blocker.close(() => r())));
    const port = (blocker.address() as net.AddressInfo).port;
    const r = await runWstap(['demo', '--port', '0', '--backend-port', String(port), '--log-format', 'json'], {}, 12_000);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd()).toBe(
      `wstap: port ${port} for the demo backend is already in use: choose another with --backend-port (0: any free port)`,
    );
  });

  it('reads WSTAP_HOST like the proxy: wstap listens on the address it names', { timeout: 15_000 }, async () => {
    const r = await runWstap(['demo', '--port', '0', '--log-format', 'json'], { WSTAP_HOST: '127.0.0.1' }, 12_000);
    expect(r.code).toBe(0);
    const listening = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as LogLine)
      .find((l) => l['event'] === 'listening')!;
    expect((listening['addresses'] as { address: string }[]).map((a) => a.address)).toEqual(['127.0.0.1']);
  });
});

describe("wstap demo --backend-only (the compose example's backend)", () => {
  /** Resolves with the first reply, or with how the upgrade or the connection ended. */
  function attempt(url: string, origin: string): Promise<string> {
    return new Promise((resolve) => {
      const ws = new WebSocket(url, { origin });
      ws.on('error', () => {});
      ws.once('open', () => ws.send('{"id":1}'));
      ws.once('message', (d) => {
        resolve(d.toString());
        ws.close();
      });
      ws.once('unexpected-response', (_q, res) => resolve(`refused ${res.statusCode}`));
      ws.once('close', (code, reason) => resolve(`closed ${code} ${reason.toString()}`));
    });
  }

  it("serves the guide's backend alone, Origins from CORS_ORIGINS, until SIGTERM (exit 0)", async () => {
    const w = startWstap(['demo', '--backend-only', '--backend-port', '0', '--host', '127.0.0.1', '--log-format', 'json'], {
      CORS_ORIGINS: 'http://localhost:5173, http://app.test',
    });
    const line = await w.waitForJson((l) => l['event'] === 'demo-backend', 'the backend listening line');
    expect(line['allowedOrigins']).toEqual(['http://localhost:5173', 'http://app.test']);
    const url = `ws://127.0.0.1:${line['port']}/ws`;
    expect(JSON.parse(await attempt(`${url}?token=t`, 'http://app.test'))).toMatchObject({ type: 'echo', data: { id: 1 } });
    expect(await attempt(`${url}?token=t`, 'http://localhost:3000')).toBe('refused 403');
    expect(await attempt(url, 'http://app.test')).toBe('closed 1008 Authentication required: Use Authorization header');
    w.proc.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
    expect(w.stderr()).toBe('');
  });

  it("--keep: every demo session, its helper proxies' too, in the live view, and each session's last line links to its page", {
    timeout: 20_000,
  }, async () => {
    const w = startWstap(['demo', '--keep', '--port', '0', '--log-format', 'json']);
    const done = await w.waitForJson((l) => String(l['msg'] ?? '').startsWith('demo done; still running'), 'the still-running line');
    const view = /the sessions in a browser: (http:\/\/localhost:\d+\/__wstap\/)/.exec(String(done['msg']))?.[1];
    expect(view).toBeDefined();
    const list = (await (await fetch(`${view!.replace('localhost', '127.0.0.1')}api/sessions`)).json()) as { sessions: { id: string }[] };
    const ids = list.sessions.map((s) => s.id);
    for (const id of ['ws-1', 'norm-1', 'down-1', 'dns-1']) expect(ids).toContain(id);
    // A session opened now has its page on its last line.
    const ws = new WebSocket(`${view!.replace('http', 'ws').replace('/__wstap/', '/ws')}`, { headers: { Origin: 'http://localhost:3000' } });
    ws.on('error', () => {});
    await new Promise((r) => ws.once('close', r));
    const id = `ws-${ids.filter((i) => i.startsWith('ws-')).length + 1}`;
    const end = await w.waitForJson((l) => l['event'] === 'session-end' && l['session'] === id, `the end of ${id}`);
    expect(end['view']).toBe(`${view}sessions/${id}`);
    w.proc.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
  });
});
