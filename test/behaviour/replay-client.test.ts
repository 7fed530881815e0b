/**
 * Replay as a client (the library): recordings made through wstap from real sessions,
 * replayed against the same backend (a match, with $.server_ts ignored) and against a
 * changed one (a diff that names the JSON path); closes, headers, a backend that is down,
 * a choice of sessions.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatReplay, replayRecording } from '../../src/replay/replay-client.js';
import { demoBackend } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { fakeJwt, refusedPort } from '../support/helpers.js';
import { ensureBuilt } from '../support/process.js';
import { closeClient, openClient, recordThroughProxy } from '../support/recording.js';
import { changedEcho, diffsOf, recordChat, recordPolicyClose, wsBackend } from '../support/replay.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

// --- replay as a client --------------------------------------------------------------

describe('replay as a client (library)', () => {
  it('against the same backend: a match once $.server_ts is ignored', async () => {
    const backend = await demoBackend();
    const { rec } = await recordChat(backend);
    const r = await replayRecording(rec, { target: `ws://127.0.0.1:${backend.port}`, ignore: ['$.server_ts'] });
    expect(diffsOf(r)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.sessions).toHaveLength(1);
    expect(r.sessions[0]).toMatchObject({ session: 'ws-1', ok: true, sent: 3, received: 3, close: { code: 1000 } });
    expect(formatReplay(r)).toMatch(/all 1 sessions match/);
  });

  it('against the same backend without --ignore: only $.server_ts differs, in both JSON answers', async () => {
    const backend = await demoBackend();
    const { rec } = await recordChat(backend);
    const r = await replayRecording(rec, { target: `ws://127.0.0.1:${backend.port}` });
    expect(r.ok).toBe(false);
    const diffs = diffsOf(r);
    expect(diffs.map((d) => [d.index, d.path])).toEqual([
      [0, '$.server_ts'],
      [2, '$.server_ts'],
    ]);
    for (const d of diffs) {
      expect(typeof d.expected).toBe('number');
      expect(typeof d.actual).toBe('number');
    }
  });

  it('against a changed backend: the diff names the session, the message and the JSON paths', async () => {
    const backend = await demoBackend();
    const { rec } = await recordChat(backend);
    const changed = await wsBackend(changedEcho);
    const r = await replayRecording(rec, { target: changed.wsUrl, ignore: ['$.server_ts'] });
    expect(r.ok).toBe(false);
    expect(r.sessions[0]!.session).toBe('ws-1');
    expect(diffsOf(r)).toEqual([
      { index: 0, path: '$.type', expected: 'echo', actual: 'reply' },
      { index: 0, path: '$.v', expected: undefined, actual: 2 },
      { index: 2, path: '$.type', expected: 'echo', actual: 'reply' },
      { index: 2, path: '$.v', expected: undefined, actual: 2 },
    ]);
    const text = formatReplay(r);
    expect(text).toMatch(/FAIL ws-1/);
    expect(text).toMatch(/server message #1 \$\.type/);
    expect(text).toMatch(/expected: "echo"/);
    expect(text).toMatch(/actual: {3}"reply"/);
    expect(text).toMatch(/1 of 1 sessions differ/);
  });

  it('a changed value deep inside the JSON is named by its full path; $..ts style ignores work', async () => {
    const original = await wsBackend((ws) =>
      ws.on('message', () =>
        ws.send(
          JSON.stringify({
            items: [
              { id: 1, ts: 5 },
              { id: 2, ts: 6 },
            ],
          }),
        ),
      ),
    );
    const { rec } = await recordThroughProxy(`http://127.0.0.1:${original.port}`, async (wsUrl) => {
      const c = await openClient(wsUrl('/feed'));
      await c.ask('list');
      await closeClient(c);
    });
    const changed = await wsBackend((ws) =>
      ws.on('message', () =>
        ws.send(
          JSON.stringify({
            items: [
              { id: 1, ts: 7 },
              { id: 3, ts: 8 },
            ],
          }),
        ),
      ),
    );
    const strict = await replayRecording(rec, { target: changed.wsUrl });
    expect(diffsOf(strict).map((d) => d.path)).toEqual(['$.items[0].ts', '$.items[1].id', '$.items[1].ts']);
    const lenient = await replayRecording(rec, { target: changed.wsUrl, ignore: ['$..ts'] });
    expect(diffsOf(lenient)).toEqual([{ index: 0, path: '$.items[1].id', expected: 2, actual: 3 }]);
    expect((await replayRecording(rec, { target: changed.wsUrl, ignore: ['$.items[*].ts', '$.items[1].id'] })).ok).toBe(true);
  });

  it('a session the backend closed with 1008 replays as a match; a backend that no longer closes is a close.code diff', async () => {
    const backend = await demoBackend();
    const { rec } = await recordPolicyClose(backend);
    const same = await replayRecording(rec, { target: `ws://127.0.0.1:${backend.port}` });
    expect(same.ok).toBe(true);
    expect(same.sessions[0]!.close).toEqual({ code: 1008, reason: 'Authentication required: Use Authorization header' });

    const lenient = await demoBackend({ ALLOW_DEV_AUTH_BYPASS: 'true', WEBSOCKET_AUTH_BYPASS: 'true', ENVIRONMENT: 'development' });
    const r = await replayRecording(rec, { target: `ws://127.0.0.1:${lenient.port}`, timeoutMs: 300 });
    expect(r.ok).toBe(false);
    expect(diffsOf(r)).toEqual([{ index: -1, path: 'close.code', expected: 1008, actual: 1000 }]);
  });

  it('a redacted Authorization header is replaced with --header (headers option)', async () => {
    const token = fakeJwt(600);
    const strict = await wsBackend((ws, req) => {
      if (req.headers.authorization !== `Bearer ${token}`) return ws.close(1008, 'bad token');
      ws.on('message', (d) => ws.send(`ok ${d.toString()}`));
    });
    const { rec } = await recordThroughProxy(`http://127.0.0.1:${strict.port}`, async (wsUrl) => {
      const c = await openClient(wsUrl('/ws'), [], { headers: { Authorization: `Bearer ${token}` } });
      expect((await c.ask('ping-1')).text).toBe('ok ping-1');
      await closeClient(c);
    });
    expect(rec.sessions[0]!.open.request.headers.find((h) => h.name === 'Authorization')!.value).toBe('Bearer [redacted]');

    const without = await replayRecording(rec, { target: strict.wsUrl, timeoutMs: 500 });
    expect(without.ok).toBe(false);
    expect(without.sessions[0]!.close?.code).toBe(1008);
    const withHeader = await replayRecording(rec, { target: strict.wsUrl, headers: { Authorization: `Bearer ${token}` } });
    expect(diffsOf(withHeader)).toEqual([]);
    expect(withHeader.ok).toBe(true);
  });

  it('a backend that is down: the session fails with a clear error, no exception', async () => {
    const backend = await demoBackend();
    const { rec } = await recordChat(backend);
    const port = await refusedPort();
    const r = await replayRecording(rec, { target: `ws://127.0.0.1:${port}`, timeoutMs: 1000 });
    expect(r.ok).toBe(false);
    expect(r.sessions[0]!.error).toMatch(/ECONNREFUSED/);
    expect(diffsOf(r)[0]).toMatchObject({ index: -1, expected: 'a WebSocket connection' });
  });

  it('only the chosen sessions, and a clear error for an unknown id', async () => {
    const backend = await demoBackend();
    const { rec } = await recordThroughProxy(backend.url, async (wsUrl) => {
      for (const n of [1, 2]) {
        const c = await openClient(wsUrl(`/ws?token=${fakeJwt(600)}`));
        await c.ask(JSON.stringify({ n }));
        await closeClient(c);
      }
    });
    expect(rec.sessions.map((s) => s.id)).toEqual(['ws-1', 'ws-2']);
    const r = await replayRecording(rec, { target: `ws://127.0.0.1:${backend.port}`, sessions: ['ws-2'], ignore: ['$.server_ts'] });
    expect(r.sessions.map((s) => [s.session, s.ok])).toEqual([['ws-2', true]]);
    await expect(replayRecording(rec, { target: `ws://127.0.0.1:${backend.port}`, sessions: ['ws-9'] })).rejects.toThrow(
      /no session ws-9.*ws-1, ws-2/,
    );
  });
});
