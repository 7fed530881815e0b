/**
 * Recording through the real bin (issue 4): --record-max-bytes and --record-payloads none
 * with `wstap --record`, and a record path in a missing folder: one log line each, and the
 * proxy runs on. Real sockets on 127.0.0.1, the demo backend, JSON logs.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadRecording } from '../../src/recording/loader.js';
import { demoBackend } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { fakeJwt } from '../support/helpers.js';
import { ensureBuilt } from '../support/process.js';
import { closeClient, openClient, startBinProxy } from '../support/recording.js';
import { tmpDir, tmpFile } from '../support/temp.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

describe('--record-max-bytes', () => {
  it('through the real bin: one recording-stopped log line, and the session still echoes', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const { bin, port } = await startBinProxy(['--target', backend.url, '--record', file, '--record-max-bytes', '3k']);
    const c = await openClient(`ws://127.0.0.1:${port}/ws?token=${fakeJwt(600)}`);
    for (let i = 0; i < 20; i++) expect(JSON.parse((await c.ask(JSON.stringify({ i, pad: 'y'.repeat(200) }))).text)).toMatchObject({ data: { i } });
    await closeClient(c);
    await bin.waitForJson((l) => l['event'] === 'session-end', 'the session-end line');
    const stopped = bin.json().filter((l) => l['event'] === 'recording-stopped');
    expect(stopped).toHaveLength(1);
    expect(stopped[0]!['file']).toBe(file);
    expect(statSync(file).size).toBeLessThanOrEqual(3 * 1024);
    bin.proc.kill('SIGTERM');
    expect((await bin.exited).code).toBe(0);
    expect(loadRecording(file).warnings).toEqual([]);
  });
});

describe('--record-payloads', () => {
  it('through the real bin: --record-payloads none writes no payload', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const { bin, port } = await startBinProxy(['--target', backend.url, '--record', file, '--record-payloads', 'none']);
    const marker = `marker-${randomBytes(8).toString('hex')}`;
    const c = await openClient(`ws://127.0.0.1:${port}/ws?token=${fakeJwt(600)}`);
    await c.ask(marker);
    await closeClient(c);
    await bin.waitForJson((l) => l['event'] === 'session-end', 'the session-end line');
    bin.proc.kill('SIGTERM');
    expect((await bin.exited).code).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(marker);
    const rec = loadRecording(file);
    expect(rec.header.payloads).toBe('none');
    expect(rec.sessions[0]!.messages.filter((m) => m.kind === 'text').every((m) => m.omitted === true)).toBe(true);
  });
});

describe('an unwritable record path', () => {
  it('through the real bin: the error line is printed and the proxy runs on', async () => {
    const backend = await demoBackend();
    const file = path.join(tmpDir(), 'missing', 'session.jsonl');
    const { bin, port } = await startBinProxy(['--target', backend.url, '--record', file]);
    const line = await bin.waitForJson((l) => l['event'] === 'recording-stopped', 'the recording-stopped line');
    expect(line['level']).toBe(50);
    expect(String(line['msg'])).toMatch(/folder does not exist/);
    const c = await openClient(`ws://127.0.0.1:${port}/ws?token=${fakeJwt(600)}`);
    expect(JSON.parse((await c.ask('{"still":"proxying"}')).text)).toMatchObject({ data: { still: 'proxying' } });
    await closeClient(c);
    await bin.waitForJson((l) => l['event'] === 'session-end', 'the session-end line');
    expect(bin.json().filter((l) => l['event'] === 'recording-stopped')).toHaveLength(1);
    bin.proc.kill('SIGTERM');
    expect((await bin.exited).code).toBe(0);
  });
});
