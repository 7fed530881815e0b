/**
 * The proxy's log through the real launcher, with real sessions against the demo backend:
 * the JSON log of a session (handshake, session end, never a token) and the pretty log
 * (a fix: line, no ANSI codes off a TTY).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend } from '../support/backends.js';
import { closed, connected, startJsonProxy, startWstap } from '../support/cli.js';
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
