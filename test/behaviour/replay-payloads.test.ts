/**
 * Serving and replaying recordings made with --record-payloads: a payload cut at N bytes
 * (inside a multibyte character too) and recordings without payloads.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DemoBackend } from '../../src/demo/backend.js';
import type { Recording } from '../../src/recording/format.js';
import { replayRecording } from '../../src/replay/replay-client.js';
import { createReplayServer } from '../../src/replay/replay-server.js';
import { demoBackend } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { fakeJwt } from '../support/helpers.js';
import { ensureBuilt } from '../support/process.js';
import { closeClient, openClient, recordThroughProxy } from '../support/recording.js';
import { serve } from '../support/replay.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

// --- recordings made with --record-payloads ----------------------------------------

describe('recordings with partial payloads (--record-payloads)', () => {
  const MULTIBYTE = `a${'é'.repeat(20)}`;

  async function recordCut(backend: DemoBackend): Promise<Recording> {
    const { rec } = await recordThroughProxy(
      backend.url,
      async (wsUrl) => {
        const c = await openClient(wsUrl(`/ws?token=${fakeJwt(600)}`));
        await c.ask(MULTIBYTE);
        await closeClient(c);
      },
      { payloads: 16 },
    );
    return rec;
  }

  /** A session recorded with --record-payloads none. */
  async function recordWithoutPayloads(backend: DemoBackend): Promise<Recording> {
    const { rec } = await recordThroughProxy(
      backend.url,
      async (wsUrl) => {
        const c = await openClient(wsUrl(`/ws?token=${fakeJwt(600)}`));
        await c.ask('{"x":1}');
        await closeClient(c);
      },
      { payloads: 'none' },
    );
    return rec;
  }

  it('serve matches a client message by the recorded start when it was cut (ASCII)', async () => {
    const backend = await demoBackend();
    const { rec } = await recordThroughProxy(
      backend.url,
      async (wsUrl) => {
        const c = await openClient(wsUrl(`/ws?token=${fakeJwt(600)}`));
        await c.ask(JSON.stringify({ op: 'long', body: 'b'.repeat(100) }));
        await closeClient(c);
      },
      { payloads: 16 },
    );
    const { server } = await serve(rec);
    const c = await openClient(`${server.url}/ws`);
    const answer = await c.ask(JSON.stringify({ op: 'long', body: 'b'.repeat(100) }));
    // The mock can only send what was recorded: the first 16 bytes of the answer.
    expect(answer.text).toBe('{"type":"echo","');
    expect(server.unexpected).toEqual([]);
  });

  // Guards the cut of a text payload at N bytes: it falls back to the last whole UTF-8 character
  // (truncated: true), never decoding half a character to U+FFFD. Otherwise the recorded start is
  // no prefix of the real message, and serve would reject the very message that was recorded (1008).
  it('serve accepts the recorded message when the cut falls inside a multibyte character', async () => {
    const backend = await demoBackend();
    const rec = await recordCut(backend);
    expect(rec.sessions[0]!.messages[0]!.text).not.toContain('\ufffd');
    const { server } = await serve(rec);
    const c = await openClient(`${server.url}/ws`);
    await c.ask(MULTIBYTE);
    expect(server.unexpected).toEqual([]);
  });

  // Guards replay against a recording that keeps only the start of a client message: the cut
  // message is not sent as if it were whole and reported "ok" on the answers' recorded starts;
  // the session is reported as not matching, as it is for omitted payloads.
  it('replay does not send a truncated client message as if it were whole', async () => {
    const backend = await demoBackend();
    const rec = await recordCut(backend);
    const r = await replayRecording(rec, { target: `ws://127.0.0.1:${backend.port}`, timeoutMs: 500 });
    expect(r.ok).toBe(false);
  });

  it('replay of a recording without payloads (none) says so', async () => {
    const backend = await demoBackend();
    const rec = await recordWithoutPayloads(backend);
    const r = await replayRecording(rec, { target: `ws://127.0.0.1:${backend.port}`, timeoutMs: 300 });
    expect(r.ok).toBe(false);
    expect(r.sessions[0]!.sent).toBe(0);
    expect(r.sessions[0]!.diffs[0]).toMatchObject({
      index: -1,
      expected: 'a whole recorded client message',
      actual: 'the recording has no payloads (--record-payloads none)',
    });
  });

  // Guards serve against a recording made with --record-payloads none: it is refused up front
  // with an error that names the payloads, not served as if every payload were empty.
  it('serve refuses a recording without payloads with a clear error', async () => {
    const backend = await demoBackend();
    const rec = await recordWithoutPayloads(backend);
    await expect(createReplayServer(rec)).rejects.toThrow(/payloads/);
  });
});
