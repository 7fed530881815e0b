/**
 * Replay through the real bin: `wstap replay` (exit 0 on a match, 1 with a readable diff, 2
 * for bad input), `wstap serve` (a recording as a mock backend until SIGTERM) and
 * `wstap report`. Recordings are made through wstap from real sessions against the demo
 * backend.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SessionReport } from '../../src/recording/report.js';
import type { ReplayResult } from '../../src/replay/replay-client.js';
import { demoBackend } from '../support/backends.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { fakeJwt } from '../support/helpers.js';
import { ensureBuilt } from '../support/process.js';
import { closeClient, openClient, recordThroughProxy, runBin, startBin } from '../support/recording.js';
import { BYE, BYTES, HELLO, changedEcho, recordChat, serverTexts, wsBackend } from '../support/replay.js';
import { tmpFile } from '../support/temp.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

// --- the real bin --------------------------------------------------------------------

describe('wstap replay (the real bin)', () => {
  it('exits 0 on a match, with --ignore $.server_ts', async () => {
    const backend = await demoBackend();
    const { file } = await recordChat(backend);
    const r = await runBin(['replay', file, '--target', `ws://127.0.0.1:${backend.port}`, '--ignore', '$.server_ts']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ok {3}ws-1: sent 3, received 3, closed 1000/m);
    expect(r.stdout).toMatch(/all 1 sessions match/);
  });

  it('exits 1 on a mismatch with a readable diff: session, message index, JSON path, expected, actual', async () => {
    const backend = await demoBackend();
    const { file } = await recordChat(backend);
    const changed = await wsBackend(changedEcho);
    const r = await runBin(['replay', file, '--target', changed.wsUrl, '--ignore', '$.server_ts']);
    expect(r.code).toBe(1);
    const out = r.stdout;
    expect(out).toMatch(/FAIL ws-1/);
    expect(out).toMatch(/server message #1 \$\.type\n\s+expected: "echo"\n\s+actual: {3}"reply"/);
    expect(out).toMatch(/server message #1 \$\.v\n/);
    expect(out).toMatch(/server message #3 \$\.type/);
    expect(out).toMatch(/1 of 1 sessions differ/);
  });

  it('--json prints the result as JSON', async () => {
    const backend = await demoBackend();
    const { file } = await recordChat(backend);
    const r = await runBin(['replay', file, '--target', `ws://127.0.0.1:${backend.port}`, '--json']);
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout) as ReplayResult;
    expect(result.ok).toBe(false);
    expect(result.sessions[0]!.diffs.map((d) => [d.session, d.index, d.path])).toEqual([
      ['ws-1', 0, '$.server_ts'],
      ['ws-1', 2, '$.server_ts'],
    ]);
  });

  // Guards the exit after a refused upgrade: with a listener on 'unexpected-response', ws leaves
  // aborting the request to the caller, and a connection the backend keeps alive (here for 30 s)
  // must not keep `wstap replay` running after it has printed its result.
  it('a backend that refuses the upgrade (401, keep-alive): exits 1 with the status, without hanging', async () => {
    const refuser = http.createServer((_req, res) => {
      res.writeHead(401, { 'Content-Type': 'text/plain' });
      res.end('no\n');
    });
    refuser.keepAliveTimeout = 30_000;
    await new Promise<void>((r) => refuser.listen(0, '127.0.0.1', () => r()));
    defer(
      () =>
        new Promise<void>((r) => {
          refuser.closeAllConnections();
          refuser.close(() => r());
        }),
    );
    const port = (refuser.address() as { port: number }).port;
    const file = tmpFile();
    writeFileSync(file, readFileSync(new URL('../fixtures/chat.jsonl', import.meta.url)));
    const r = await runBin(['replay', file, '--target', `ws://127.0.0.1:${port}`], 4000);
    expect(r.stdout).toMatch(/answered the upgrade with 401 \(recorded: 101\)/);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
  });

  it('exits 2 for a missing file', async () => {
    const missing = tmpFile('missing.jsonl');
    const r = await runBin(['replay', missing, '--target', 'ws://127.0.0.1:9']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(missing);
    expect(r.stderr).toMatch(/no such file/);
    expect(r.stdout).toBe('');
  });

  it('exits 2 for a bad --ignore path, with one line that names it', async () => {
    const file = tmpFile();
    writeFileSync(file, readFileSync(new URL('../fixtures/chat.jsonl', import.meta.url)));
    const r = await runBin(['replay', file, '--target', 'ws://127.0.0.1:9', '--ignore', '$.server_ts[x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/server_ts\[x/);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('exits 2 without --target', async () => {
    const r = await runBin(['replay', tmpFile()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--target/);
  });

  it('exits 2 for a --target that is no ws:// URL', async () => {
    const r = await runBin(['replay', tmpFile(), '--target', 'ftp://x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ws:\/\//);
  });
});

describe('wstap serve (the real bin)', () => {
  it('prints its URL; a client plays the session; SIGTERM exits 0 when nothing was unexpected', async () => {
    const backend = await demoBackend();
    const { file, rec } = await recordChat(backend);
    const bin = startBin(['serve', file, '--port', '0']);
    const [, url] = await bin.waitForText(/on (ws:\/\/127\.0\.0\.1:\d+)/);
    const c = await openClient(`${url}/ws`);
    expect((await c.ask(HELLO)).text).toBe(serverTexts(rec)[0]);
    await c.ask(BYTES);
    await c.ask(BYE);
    await closeClient(c);
    await bin.waitForText(/all 3 of 3 client messages matched/);
    expect(bin.stdout()).toMatch(/connection on \/ws: playing session ws-1/);
    bin.proc.kill('SIGTERM');
    expect(await bin.exited).toEqual({ code: 0, signal: null });
  });

  it('reports an unexpected message with its diff and exits 1', async () => {
    const backend = await demoBackend();
    const { file } = await recordChat(backend);
    const bin = startBin(['serve', file, '--port', '0']);
    const [, url] = await bin.waitForText(/on (ws:\/\/127\.0\.0\.1:\d+)/);
    const c = await openClient(`${url}/ws`);
    c.ws.send('{"op":"hello","n":99}');
    expect((await c.closed).code).toBe(1008);
    await bin.waitForText(/unexpected client message #1/);
    expect(bin.stdout()).toMatch(/\$\.n: expected 1, got 99/);
    bin.proc.kill('SIGTERM');
    expect((await bin.exited).code).toBe(1);
  });

  it('--on-unexpected ignore keeps the connection', async () => {
    const backend = await demoBackend();
    const { file } = await recordChat(backend);
    const bin = startBin(['serve', file, '--port', '0', '--on-unexpected', 'ignore']);
    const [, url] = await bin.waitForText(/on (ws:\/\/127\.0\.0\.1:\d+)/);
    const c = await openClient(`${url}/ws`);
    c.ws.send('{"wrong":true}');
    expect(JSON.parse((await c.ask(HELLO)).text)).toMatchObject({ data: { op: 'hello', n: 1 } });
    expect(c.received).toHaveLength(1);
    await closeClient(c);
    bin.proc.kill('SIGTERM');
    await bin.exited;
  });

  it('exits 2 for a file that is not a recording', async () => {
    const file = tmpFile('notes.txt');
    writeFileSync(file, 'hello\nworld\n');
    const r = await runBin(['serve', file, '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^wstap: .*(is not a wstap recording|line 1)/);
    // What the message should also say (the file, and that it is no recording) is checked in recording-crash.test.ts.
  });
});

describe('wstap report (the real bin)', () => {
  it('a table with one row per session, and --json', async () => {
    const backend = await demoBackend();
    const { file } = await recordThroughProxy(backend.url, async (wsUrl) => {
      const c = await openClient(wsUrl(`/ws?token=${fakeJwt(600)}`));
      await c.ask(HELLO);
      await c.ask(BYE);
      await closeClient(c, 1000, 'done');
      const d = await openClient(wsUrl('/ws'));
      await d.closed;
    });
    const table = await runBin(['report', file]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^session\s+client\s+path\s+status/);
    expect(lines).toHaveLength(4);
    expect(lines[2]).toMatch(/^ws-1\s+127\.0\.0\.1:\d+\s+\/ws\?token=\[redacted\]\s+101\s+-\s+2\/2\s+client 1000 "done"/);
    expect(lines[3]).toMatch(/^ws-2 .*101\s+-\s+0\/0\s+server 1008 "Authentication required/);
    expect(lines[3]).toMatch(/auth-missing/);
    expect(lines[3]).toMatch(/close-policy/);

    const json = await runBin(['report', file, '--json']);
    expect(json.code).toBe(0);
    const rows = JSON.parse(json.stdout) as SessionReport[];
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      session: 'ws-1',
      path: '/ws?token=[redacted]',
      status: 101,
      outcome: 'tunnel',
      messages: { client: 2, server: 2 },
      close: { by: 'client', code: 1000, reason: 'done', clean: true },
    });
    expect(rows[0]!.latency).not.toBeNull();
    expect(rows[1]).toMatchObject({ session: 'ws-2', close: { by: 'server', code: 1008 }, messages: { client: 0, server: 0 } });
    expect(rows[1]!.findings).toEqual(expect.arrayContaining(['auth-missing', 'close-policy']));
  });

  it('exits 2 for a missing file', async () => {
    const r = await runBin(['report', tmpFile('nope.jsonl')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no such file/);
  });
});
