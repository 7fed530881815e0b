/**
 * wsFixture in record and passthrough modes: a real backend answers through wstap and the
 * session is written (then served in replay mode), or nothing is written.
 * Real sockets on 127.0.0.1, ephemeral ports; the JSON Lines file is read back with the loader.
 */
import { existsSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadRecording } from '../../src/recording/loader.js';
import { wsFixture } from '../../src/replay/fixture.js';
import { demoBackend } from '../support/backends.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { fakeJwt } from '../support/helpers.js';
import { ensureBuilt } from '../support/process.js';
import { closeClient, dataOf, openClient } from '../support/recording.js';
import { tmpFile } from '../support/temp.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

describe('wsFixture record and passthrough modes', () => {
  it('record: the real backend answers through wstap and the session is written; replay then serves it', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const rec = await wsFixture({ recording: file, mode: 'record', target: backend.url });
    defer(() => rec.close());
    expect(rec.mode).toBe('record');
    const c = await openClient(`${rec.url}/ws?token=${fakeJwt(600)}`);
    const live = await c.ask('{"q":"live"}');
    expect(JSON.parse(live.text)).toMatchObject({ type: 'echo', data: { q: 'live' } });
    await closeClient(c);
    await rec.close();
    const loaded = loadRecording(file);
    expect(loaded.warnings).toEqual([]);
    expect(dataOf(loaded).map((m) => m.text)).toEqual(['{"q":"live"}', live.text]);

    await backend.close();
    const replay = await wsFixture({ recording: file, mode: 'replay' });
    defer(() => replay.close());
    const d = await openClient(`${replay.url}/ws`);
    expect((await d.ask('{"q":"live"}')).text).toBe(live.text);
    await closeClient(d);
    expect(replay.unexpected).toEqual([]);
  });

  it('passthrough: proxied to the real backend, nothing written', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const f = await wsFixture({ recording: file, mode: 'passthrough', target: backend.url });
    defer(() => f.close());
    const c = await openClient(`${f.url}/ws?token=${fakeJwt(600)}`);
    expect(JSON.parse((await c.ask('{"q":"pass"}')).text)).toMatchObject({ data: { q: 'pass' } });
    await closeClient(c);
    await f.close();
    expect(existsSync(file)).toBe(false);
  });

  it('record and passthrough need a target: a clear error', async () => {
    await expect(wsFixture({ recording: tmpFile(), mode: 'record' })).rejects.toThrow(/mode record needs a target/);
  });
});
