/**
 * The proxy's log through the real launcher, with real sessions against the demo backend:
 * the JSON log of a session (handshake, session end, never a token) and the pretty log
 * (a fix: line, no ANSI codes off a TTY).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend } from '../support/backends.js';
import { closed, connected, runWstap, startJsonProxy, startWstap } from '../support/cli.js';
import { runDeferred } from '../support/cleanup.js';
import { fakeJwt } from '../support/helpers.js';
import { ensureBuilt } from '../support/process.js';
import { wsClient } from '../support/ws-client.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

describe('JSON log of a real session', () => {
  it('logs the handshake (tunnel, 101, no findings) and the session end; the token never appears', async () => {
    const backend = await demoBackend();
    const { w, port } = await startJsonProxy(['--target', backend.url, '--allow-origin', 'http://localhost:3000']);
    const token = fakeJwt(600);
    const ws = wsClient(`ws://127.0.0.1:${port}/ws`, { headers: { Origin: 'http://localhost:3000', Authorization: `Bearer ${token}` } });
    await connected(ws);
    const reply = new Promise<string>((r) => ws.once('message', (d) => r(d.toString())));
    ws.send('{"hello":1}');
    expect(JSON.parse(await reply)).toMatchObject({ type: 'echo', data: { hello: 1 } });
    ws.close(1000, 'done');
    await closed(ws);

    const hs = await w.waitForJson((l) => l['event'] === 'handshake', 'the handshake line');
    expect(hs).toMatchObject({ event: 'handshake', outcome: 'tunnel', status: 101, findings: [], path: '/ws', origins: ['http://localhost:3000'] });
    const creds = hs['credentials'] as { kind: string; shape: string }[];
    expect(creds).toHaveLength(1);
    expect(creds[0]!.kind).toBe('authorization');
    expect(creds[0]!.shape).toMatch(/JWT/i);
    const end = await w.waitForJson((l) => l['event'] === 'session-end', 'the session-end line');
    expect(end['session']).toBe(hs['session']);
    expect((end['bytes'] as { clientToServer: number }).clientToServer).toBeGreaterThan(0);

    const out = w.stdout();
    expect(out).not.toContain(token);
    for (const part of token.split('.').slice(1)) expect(out).not.toContain(part);
  });

  it('a token in the query string never appears, even at --log-level debug (headers logged)', async () => {
    const backend = await demoBackend();
    const { w, port } = await startJsonProxy(['--target', backend.url, '--log-level', 'debug']);
    const queryToken = fakeJwt(900);
    const headerToken = fakeJwt(1200);
    const a = wsClient(`ws://127.0.0.1:${port}/ws?token=${queryToken}&x=1`, { headers: { Origin: 'http://localhost:3000' } });
    await connected(a);
    a.close();
    await closed(a);
    const b = wsClient(`ws://127.0.0.1:${port}/ws`, { headers: { Origin: 'http://localhost:3000', Authorization: `Bearer ${headerToken}` } });
    await connected(b);
    b.close();
    await closed(b);
    await w.waitForJson((l) => l['event'] === 'session-end' && l['session'] === 'ws-2', 'the second session-end line');

    const handshakes = w.json().filter((l) => l['event'] === 'handshake');
    expect(handshakes).toHaveLength(2);
    expect(handshakes[0]!['path']).toMatch(/^\/ws\?token=\[redacted\]&x=1$/);
    expect(handshakes[0]!['requestHeaders']).toBeDefined();
    const out = w.stdout();
    for (const t of [queryToken, headerToken]) {
      expect(out).not.toContain(t);
      for (const part of t.split('.').slice(1)) expect(out).not.toContain(part);
    }
  });
});

describe('pretty log', () => {
  it('shows origin-duplicate with a fix: line, and no ANSI codes when stdout is not a TTY', async () => {
    const backend = await demoBackend();
    const w = startWstap(['--port', '0', '--host', '127.0.0.1', '--log-format', 'pretty', '--target', backend.url]);
    const m = await w.waitForText(/listening on ws:\/\/127\.0\.0\.1:(\d+)/);
    const port = Number(m[1]);
    const ws = wsClient(`ws://127.0.0.1:${port}/ws`, {
      headers: {
        Origin: ['http://localhost:3000', 'http://localhost:3000'],
        Authorization: `Bearer ${fakeJwt(600)}`,
      },
    });
    await closed(ws);
    await w.waitForText(/origin-duplicate[\s\S]*fix:/);
    const out = w.stdout();
    expect(out).toMatch(/^\s+fix: /m);
    expect(out).not.toMatch(/\u001b\[/);
    expect(out.trimStart().startsWith('{')).toBe(false);
  });
});

describe('the live view through the real bin', () => {
  it("on by default: the startup line names the view, each session's last line links to its page, the API lists the sessions; --no-ui turns it off", async () => {
    const backend = await demoBackend();
    const { w, port } = await startJsonProxy(['--target', backend.url]);
    const line = await w.waitForJson((l) => l['event'] === 'control-surface', 'the control-surface line');
    expect(line['url']).toBe(`http://localhost:${port}/__wstap/`);
    expect(line['msg']).toContain(`live view: http://localhost:${port}/__wstap/`);
    const ws = wsClient(`ws://127.0.0.1:${port}/ws`, { headers: { Origin: 'http://localhost:3000', Authorization: `Bearer ${fakeJwt(600)}` } });
    await connected(ws);
    ws.close();
    await closed(ws);
    const end = await w.waitForJson((l) => l['event'] === 'session-end', 'the session-end line');
    expect(end['view']).toBe(`http://localhost:${port}/__wstap/sessions/ws-1`);
    const list = (await (await fetch(`http://127.0.0.1:${port}/__wstap/api/sessions`)).json()) as { sessions: { id: string; path: string }[] };
    expect(list.sessions.map((s) => s.id)).toEqual(['ws-1']);
    const page = await fetch(end['view'] as string);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/__wstap/assets/app.js');

    const off = await startJsonProxy(['--target', backend.url, '--no-ui']);
    expect((await fetch(`http://127.0.0.1:${off.port}/__wstap/api/sessions`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${off.port}/__wstap/`)).status).toBe(404);
    expect(off.w.json().some((l) => l['event'] === 'control-surface')).toBe(false);
    const offWs = wsClient(`ws://127.0.0.1:${off.port}/ws`, {
      headers: { Origin: 'http://localhost:3000', Authorization: `Bearer ${fakeJwt(600)}` },
    });
    await connected(offWs);
    offWs.close();
    await closed(offWs);
    const offEnd = await off.w.waitForJson((l) => l['event'] === 'session-end', 'the session-end line');
    expect(offEnd['view']).toBeUndefined();
  });
});

describe('fault rules through the real bin', () => {
  it('--fault and WSTAP_FAULTS: the rules in force and the control token are printed at startup; the token works', async () => {
    const backend = await demoBackend();
    const { w, port } = await startJsonProxy(['--target', backend.url, '--fault', 'delay=10ms to=client'], {
      WSTAP_FAULTS: 'drop match=never; cut path=/crash',
    });
    const faults = await w.waitForJson((l) => l['event'] === 'faults', 'the faults line');
    expect(faults['msg']).toBe('fault rules: 1: delay=10ms to=client · 2: drop match=never · 3: cut path=/crash');
    const token = String((await w.waitForJson((l) => l['event'] === 'control-token', 'the control-token line'))['controlToken']);
    expect(token).toMatch(/^[\w-]{20,}$/);
    const post = (auth?: string): Promise<Response> =>
      fetch(`http://127.0.0.1:${port}/__wstap/api/faults`, {
        method: 'POST',
        headers: auth ? { Authorization: `Bearer ${auth}` } : {},
        body: '{"rule":"drop"}',
      });
    expect((await post()).status).toBe(401);
    expect((await post(token)).status).toBe(201);
  });

  it('a bad rule stops the start with its position and what was expected (exit 2); a set --control-token is not printed', async () => {
    const r = await runWstap(['--target', 'http://127.0.0.1:9', '--fault', 'drop to=nobody']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('at 6: to=client, to=server or to=both (in "drop to=nobody")');
    const env = await runWstap(['--target', 'http://127.0.0.1:9'], { WSTAP_FAULTS: 'delay=soon' });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('WSTAP_FAULTS: at 1: delay= needs a duration');
    const backend = await demoBackend();
    const { w } = await startJsonProxy(['--target', backend.url, '--control-token', 'my-own-token-123']);
    await w.waitForJson((l) => l['event'] === 'control-surface', 'the control-surface line');
    expect(w.stdout()).not.toContain('my-own-token-123');
  });
});

describe('metrics through the real bin', () => {
  it('on by default at /__wstap/metrics (the startup line names it); --no-metrics and WSTAP_METRICS=false turn it off', async () => {
    const backend = await demoBackend();
    const { w, port } = await startJsonProxy(['--target', backend.url]);
    const line = await w.waitForJson((l) => l['event'] === 'metrics', 'the metrics line');
    expect(line['url']).toBe(`http://localhost:${port}/__wstap/metrics`);
    const on = await fetch(`http://127.0.0.1:${port}/__wstap/metrics`);
    expect(on.status).toBe(200);
    expect(await on.text()).toContain('wstap_sessions_total{outcome="tunnel"} 0');
    for (const [args, env] of [
      [['--no-metrics'], {}],
      [[], { WSTAP_METRICS: 'false' }],
    ] as const) {
      const off = await startJsonProxy(['--target', backend.url, ...args], env);
      await off.w.waitForJson((l) => l['event'] === 'control-token', 'the startup lines');
      expect((await fetch(`http://127.0.0.1:${off.port}/__wstap/metrics`)).status).toBe(404);
      expect(off.w.json().some((l) => l['event'] === 'metrics')).toBe(false);
    }
  });
});
