/**
 * The limits of a recording (issue 4): --record-max-bytes stops it with one log line, an
 * unwritable path stops it with one error line; proxying goes on whatever happens to the
 * recording. (The same through the real bin: test/cli/record-bin.test.ts.)
 * Real sockets on 127.0.0.1, ephemeral ports; the JSON Lines file is read back with the loader.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadRecording } from '../../src/recording/loader.js';
import { demoBackend } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { fakeJwt, type TestProxy } from '../support/helpers.js';
import { ensureBuilt } from '../support/process.js';
import { closeClient, openClient, recordingProxy } from '../support/recording.js';
import { tmpDir, tmpFile } from '../support/temp.js';
import { until } from '../support/wait.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

const recordingStopped = (tp: TestProxy): Record<string, unknown>[] => tp.logs.filter((l) => l['event'] === 'recording-stopped');

describe('--record-max-bytes', () => {
  it('stops the recording with one log line at the limit; proxying goes on', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const maxBytes = 4000;
    const tp = await recordingProxy(backend.url, { file, maxBytes });
    const c = await openClient(tp.wsUrl(`/ws?token=${fakeJwt(600)}`));
    for (let i = 0; i < 30; i++) {
      const reply = await c.ask(JSON.stringify({ i, pad: 'x'.repeat(200) }));
      expect(JSON.parse(reply.text)).toMatchObject({ type: 'echo', data: { i } });
    }
    await closeClient(c);
    // A second session after the stop is proxied as well.
    const d = await openClient(tp.wsUrl(`/ws?token=${fakeJwt(600)}`));
    expect(JSON.parse((await d.ask('{"after":"stop"}')).text)).toMatchObject({ data: { after: 'stop' } });
    await closeClient(d);
    await tp.nextEnd(2);
    await tp.close();

    const stopped = recordingStopped(tp);
    expect(stopped).toHaveLength(1);
    expect(stopped[0]!['level']).toBe(40);
    expect(String(stopped[0]!['msg'])).toContain('--record-max-bytes 4000');
    expect(String(stopped[0]!['msg'])).toMatch(/proxying goes on/);
    const size = statSync(file).size;
    expect(size).toBeLessThanOrEqual(maxBytes);
    expect(size).toBeGreaterThan(0);
    // What was written is whole: every line complete, no torn line.
    const text = readFileSync(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const rec = loadRecording(file);
    expect(rec.warnings).toEqual([]);
    expect(rec.sessions).toHaveLength(1);
    const count = rec.sessions[0]!.messages.length;
    expect(count).toBeGreaterThan(0);
    expect(count).toBeLessThan(60);
    expect(text).not.toContain('"after"');
  });
});

describe('an unwritable record path', () => {
  it('a folder that does not exist: one clear error log line; the proxy still proxies', async () => {
    const backend = await demoBackend();
    const file = path.join(tmpDir(), 'no-such-folder', 'deeper', 'session.jsonl');
    const tp = await recordingProxy(backend.url, { file });
    await until(() => recordingStopped(tp).length > 0, 'the recording-stopped line', { seen: () => tp.logs.map((l) => l['event']) });
    const c = await openClient(tp.wsUrl(`/ws?token=${fakeJwt(600)}`));
    for (let i = 0; i < 3; i++) expect(JSON.parse((await c.ask(JSON.stringify({ i }))).text)).toMatchObject({ data: { i } });
    await closeClient(c);
    await tp.nextEnd();
    await tp.close();

    const stopped = recordingStopped(tp);
    expect(stopped).toHaveLength(1);
    expect(stopped[0]!['level']).toBe(50);
    expect(stopped[0]!['file']).toBe(file);
    expect(String(stopped[0]!['msg'])).toContain(file);
    expect(String(stopped[0]!['msg'])).toMatch(/folder does not exist/);
    expect(String(stopped[0]!['msg'])).toMatch(/proxying goes on/);
    // Nothing else about the recording was logged (no error per event).
    expect(tp.logs.filter((l) => (l['level'] as number) >= 50)).toHaveLength(1);
    expect(existsSync(file)).toBe(false);
  });
});
