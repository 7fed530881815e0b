/**
 * Graceful shutdown through the real launcher: SIGTERM and SIGINT with a session open or
 * none; the client is closed, the open session's end is logged, the log is flushed, exit 0.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend } from '../support/backends.js';
import { closed, connected, startJsonProxy } from '../support/cli.js';
import { runDeferred } from '../support/cleanup.js';
import { fakeJwt, refusedPort } from '../support/helpers.js';
import { ensureBuilt } from '../support/process.js';
import { wsClient } from '../support/ws-client.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

describe('graceful shutdown', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} with an open session: logs shutdown, closes the client, flushes, exits 0`, async () => {
      const backend = await demoBackend();
      const { w, port } = await startJsonProxy(['--target', backend.url, '--shutdown-grace', '300']);
      const ws = wsClient(`ws://127.0.0.1:${port}/ws`, { headers: { Origin: 'http://localhost:3000', Authorization: `Bearer ${fakeJwt(600)}` } });
      await connected(ws);
      await w.waitForJson((l) => l['event'] === 'handshake', 'the handshake line');
      const clientClosed = closed(ws);
      w.proc.kill(signal);
      await clientClosed;
      const exit = await w.exited;
      expect(exit).toEqual({ code: 0, signal: null });
      const lines = w.json();
      expect(lines.find((l) => l['event'] === 'shutdown')).toMatchObject({ signal });
      // 'stopped' is the last line written; a line still in pino's asynchronous write can land after it.
      expect(lines.slice(-2).map((l) => l['event'])).toContain('stopped');
      expect(lines.findIndex((l) => l['event'] === 'shutdown')).toBeLessThan(lines.findIndex((l) => l['event'] === 'stopped'));
      expect(w.stdout().endsWith('\n')).toBe(true);
    });
  }

  // Guards the end of a session aborted by the shutdown: a destroyed socket's 'close' comes in the
  // close-callbacks phase, so close() waits for the aborted tunnels to report before the sinks are
  // flushed and 'stopped' is written; the open session's end is logged (and would be recorded).
  it('SIGTERM with an open session: the aborted session is logged (session-end, how shutdown) before stopped', async () => {
    const backend = await demoBackend();
    const { w, port } = await startJsonProxy(['--target', backend.url, '--shutdown-grace', '300']);
    const ws = wsClient(`ws://127.0.0.1:${port}/ws`, { headers: { Origin: 'http://localhost:3000', Authorization: `Bearer ${fakeJwt(600)}` } });
    await connected(ws);
    const hs = await w.waitForJson((l) => l['event'] === 'handshake', 'the handshake line');
    w.proc.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
    const lines = w.json();
    const end = lines.findIndex((l) => l['event'] === 'session-end');
    expect(end).toBeGreaterThanOrEqual(0);
    expect(lines[end]).toMatchObject({ session: hs['session'], endedBy: 'proxy', how: 'shutdown' });
    expect(end).toBeLessThan(lines.findIndex((l) => l['event'] === 'stopped'));
  });

  it('SIGTERM with no session open exits 0 after the stopped line', async () => {
    const { w, port } = await startJsonProxy(['--target', `http://127.0.0.1:${await refusedPort()}`]);
    // A round trip first: the signal handlers are installed only after the listening line is written.
    await closed(wsClient(`ws://127.0.0.1:${port}/ws`, { headers: { Origin: 'http://localhost:3000' } }));
    await w.waitForJson((l) => l['event'] === 'handshake', 'the handshake line');
    w.proc.kill('SIGTERM');
    expect(await w.exited).toEqual({ code: 0, signal: null });
    const events = w.json().map((l) => l['event']);
    expect(events.slice(-3)).toEqual(['shutdown', 'run-summary', 'stopped']);
    expect(w.json().find((l) => l['event'] === 'run-summary')).toMatchObject({
      sessions: 1,
      outcomes: { failed: 1 },
      msg: expect.stringMatching(/^run summary: 1 session \(1 failed\); findings: /),
    });
  });
});
