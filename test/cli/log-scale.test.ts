/**
 * The log scales to a reconnect loop: ten refused reconnects do not print the same long hint
 * ten times (once per code, then "as above"), --quiet prints only problems, --log-format
 * compact prints one line per session, and a summary of the run comes at exit. The real bin,
 * a real ws backend that closes every session with 1008, real ws clients.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { ensureBuilt, startBin, type Started } from '../support/process.js';

let server: http.Server;
let target: string;
beforeAll(async () => {
  ensureBuilt();
  server = http.createServer();
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    if (req.url?.startsWith('/ok')) ws.on('message', (d) => ws.send(d));
    else ws.close(1008, 'Authentication required');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  target = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function proxy(args: string[]): Promise<{ bin: Started; port: number }> {
  const bin = startBin(['--target', target, '--port', '0', '--host', '127.0.0.1', ...args]);
  const m = await bin.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)/, 'the listening line');
  return { bin, port: Number(m[1]) };
}

/** A client that connects and is closed by the backend (a reconnect loop's one turn). */
async function refused(port: number, path = '/ws'): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { origin: 'http://localhost:3000' });
  await new Promise((r) => ws.once('close', r));
}

async function healthy(port: number): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ok?token=abc`, { origin: 'http://localhost:3000' });
  await new Promise((r) => ws.once('open', r));
  ws.send('hi');
  await new Promise((r) => ws.once('message', r));
  ws.close(1000);
  await new Promise((r) => ws.once('close', r));
}

async function stop(bin: Started): Promise<string> {
  bin.proc.kill('SIGTERM');
  await bin.exited;
  return bin.stdout();
}

const count = (text: string, part: string): number => text.split(part).length - 1;

describe('the log in a reconnect loop', () => {
  it('pretty: ten refused reconnects print the close-policy hint once, then refer to it', async () => {
    const { bin, port } = await proxy(['--log-format', 'pretty']);
    for (let i = 0; i < 10; i++) await refused(port);
    await bin.waitFor(/ws-10 closed by server/, 'the tenth session end');
    const out = await stop(bin);
    expect(count(out, '▲ close-policy')).toBe(10);
    expect(count(out, 'fix: Authentication failed: send a valid credential')).toBe(1);
    expect(count(out, 'fix: as above (')).toBeGreaterThanOrEqual(9);
    expect(out).toMatch(/run summary: 10 sessions \(10 tunnel\); findings: (auth-missing ×10, close-policy ×10|close-policy ×10, auth-missing ×10)/);
  });

  it('--quiet: a healthy session prints nothing; a refused one its warning; the summary at exit', async () => {
    const { bin, port } = await proxy(['--log-format', 'json', '--quiet']);
    await healthy(port);
    await refused(port);
    const end = await bin.waitForJson((l) => l['event'] === 'session-end', 'the refused session end');
    expect(end).toMatchObject({ level: 40, session: 'ws-2', close: { code: 1008 } });
    await stop(bin);
    const lines = bin.json();
    expect(lines.filter((l) => l['session'] === 'ws-1')).toEqual([]);
    expect(lines.find((l) => l['event'] === 'run-summary')).toMatchObject({ level: 40, sessions: 2, outcomes: { tunnel: 2 } });
  });

  it('--log-format compact: one line per session, the hints once', async () => {
    const { bin, port } = await proxy(['--log-format', 'compact']);
    await healthy(port);
    for (let i = 0; i < 3; i++) await refused(port);
    await bin.waitFor(/ws-4 GET \/ws/, 'the fourth session line');
    const out = await stop(bin);
    const sessionLines = out.split('\n').filter((l) => / ws-\d GET /.test(l));
    expect(sessionLines).toHaveLength(4);
    expect(sessionLines[0]).toMatch(
      /ws-1 GET \/ok\?token=\[redacted\] from 127\.0\.0\.1:\d+ → 101 · closed by client 1000 after \d+ ms · ↑ \d+ B ↓ \d+ B · http:\/\/localhost:\d+\/__wstap\/sessions\/ws-1$/,
    );
    expect(sessionLines[1]).toMatch(
      /ws-2 GET \/ws from .* → 101 · closed by server 1008 "Authentication required" after .* · ▲ auth-missing ▲ close-policy · http:\/\/localhost:\d+\/__wstap\/sessions\/ws-2$/,
    );
    expect(count(out, 'fix for close-policy:')).toBe(1);
  });
});
