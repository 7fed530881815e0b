/**
 * Recordings a replay cannot play as they are, through the real bin: one line and exit 2, or the
 * nearest play, never a stack trace. A recording with no tunnelled session for `serve`; a query
 * name that is no valid percent-encoding (%zz_token) for `replay --secret`; a close code ws cannot
 * send (1004) and a reason over 123 bytes for `serve`. Recordings made through wstap from real
 * sessions (the demo backend, a ws backend), edited where the wire allows what ws does not send.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { demoBackend } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { ensureBuilt } from '../support/process.js';
import { closeClient, openClient, recordThroughProxy, runBin, startBin } from '../support/recording.js';
import { wsBackend } from '../support/replay.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

/** A session the backend closed with 4001 "short" when the client said something, recorded through wstap. */
async function recordServerClose(): Promise<string> {
  const backend = await wsBackend((ws) => ws.on('message', () => ws.close(4001, 'short')));
  const { file } = await recordThroughProxy(`http://127.0.0.1:${backend.port}`, async (wsUrl) => {
    const c = await openClient(wsUrl('/ws'));
    c.ws.send('bye?');
    await c.closed;
  });
  return file;
}

/** `wstap serve file` on a port it picks, and its URL. */
async function serveBin(file: string): Promise<{ bin: ReturnType<typeof startBin>; url: string }> {
  const bin = startBin(['serve', file, '--port', '0']);
  return { bin, url: (await bin.waitFor(/on (ws:\/\/\S+)/, 'the serve URL'))[1]! };
}

/** A client that speaks once and resolves with how the played session closed it. */
async function sayByeTo(url: string): Promise<{ code: number; reason: Buffer }> {
  const ws = new WebSocket(`${url}/ws`);
  ws.on('error', () => {});
  await new Promise((r) => ws.once('open', r));
  ws.send('bye?');
  return new Promise((r) => ws.once('close', (code, reason) => r({ code, reason })));
}

describe('recordings a replay cannot play as they are', () => {
  it('serve, with no tunnelled session in the recording: one line naming the file, exit 2', async () => {
    const backend = await demoBackend();
    const { file } = await recordThroughProxy(backend.url, async (wsUrl) => {
      await openClient(wsUrl('/nope')).catch(() => undefined);
    });
    const r = await runBin(['serve', file, '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`wstap: ${file}: the recording has no tunnelled session to serve`);
  });

  it('replay, with a recorded query name that is no valid percent-encoding: --secret fills it, no URIError', async () => {
    const got: string[] = [];
    const backend = await wsBackend((ws, req) => {
      got.push(req.url ?? '');
      ws.on('message', (d) => ws.send(d));
    });
    const { file, rec } = await recordThroughProxy(`http://127.0.0.1:${backend.port}`, async (wsUrl) => {
      const c = await openClient(wsUrl('/ws?%zz_token=abc'));
      await c.ask('hi');
      await closeClient(c);
    });
    expect(rec.sessions[0]!.open.request.path).toBe('/ws?%zz_token=[redacted]');
    const r = await runBin(['replay', file, '--target', backend.wsUrl, '--secret', '%zz_token=abc']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(got.at(-1)).toBe('/ws?%zz_token=abc');
  });

  it('serve, with a close code ws cannot send (1004) and a reason over 123 bytes: the client sees the connection cut, serve goes on', async () => {
    const file = await recordServerClose();
    // The wire allows what ws does not send: edit the recorded close as a foreign peer would have sent it.
    const long = 'x'.repeat(200);
    writeFileSync(file, readFileSync(file, 'utf8').replaceAll('4001', '1004').replaceAll('"short"', `"${long}"`));
    const { bin, url } = await serveBin(file);
    for (let i = 0; i < 2; i++) {
      const { code } = await sayByeTo(url);
      expect(code).toBe(1006);
    }
    bin.proc.kill('SIGTERM');
    expect((await bin.exited).code).toBe(0);
    expect(bin.stderr()).toBe('');
  });

  it('serve, with a recorded reason over 123 bytes on a code ws can send: the close goes out with the reason cut to 123 bytes', async () => {
    const file = await recordServerClose();
    writeFileSync(file, readFileSync(file, 'utf8').replaceAll('"short"', `"${'é'.repeat(100)}"`));
    const { bin, url } = await serveBin(file);
    const { code, reason } = await sayByeTo(url);
    expect(code).toBe(4001);
    expect(reason.toString()).toBe('é'.repeat(61));
    bin.proc.kill('SIGTERM');
    expect((await bin.exited).code).toBe(0);
  });
});
