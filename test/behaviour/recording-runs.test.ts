/**
 * --record never overwrites: each run of the proxy appends a run (its own header line) to the
 * file, a startup line says where recording goes, and the loader, report and replay read every
 * run with session ids unique across runs. A run that a crash cut mid-line does not spoil the
 * next one; a corrupt line in the middle stops a command unless --skip-invalid says skip it.
 * The real bin, a real ws backend, real ws clients.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { loadRecording } from '../../src/recording/loader.js';
import { ensureBuilt, runBin, startBin } from '../support/process.js';

let backend: { url: string; close(): Promise<void> };
const dir = mkdtempSync(path.join(os.tmpdir(), 'wstap-runs-'));

beforeAll(async () => {
  ensureBuilt();
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (d) => ws.send(`echo ${d.toString()}`)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  backend = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        wss.close();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
});
afterAll(async () => {
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One run of the proxy with --record: one session that says `text`, then SIGTERM. Returns the startup line. */
async function recordRun(file: string, text: string): Promise<Record<string, unknown>> {
  const bin = startBin(['--target', backend.url, '--port', '0', '--host', '127.0.0.1', '--record', file, '--log-format', 'json']);
  const recording = await bin.waitForJson((l) => l['event'] === 'recording', 'the recording line');
  const listening = await bin.waitForJson((l) => l['event'] === 'listening', 'the listening line');
  const port = (listening['addresses'] as { port: number }[])[0]!.port;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  await new Promise((r) => ws.once('open', r));
  ws.send(text);
  await new Promise((r) => ws.once('message', r));
  ws.close(1000, 'done');
  await new Promise((r) => ws.once('close', r));
  await bin.waitForJson((l) => l['event'] === 'session-end', 'the session end');
  bin.proc.kill('SIGTERM');
  expect((await bin.exited).code).toBe(0);
  return recording;
}

describe('--record appends a run', () => {
  it('two runs into one file: both kept, a header each, session ids unique, the startup line says so', async () => {
    const file = path.join(dir, 'two-runs.jsonl');
    const first = await recordRun(file, 'one');
    expect(first).toMatchObject({ msg: `recording to ${file}`, appendedTo: 0 });
    const sizeAfterFirst = readFileSync(file).length;
    const second = await recordRun(file, 'two');
    expect(second['appendedTo']).toBe(sizeAfterFirst);
    expect(String(second['msg'])).toMatch(/a new run after the .* already there/);

    const rec = loadRecording(file);
    expect(rec.runs).toHaveLength(2);
    expect(rec.sessions.map((s) => [s.id, s.run])).toEqual([
      ['ws-1', 1],
      ['2:ws-1', 2],
    ]);
    const texts = rec.sessions.map((s) => s.messages.filter((m) => m.kind === 'text').map((m) => m.text));
    expect(texts).toEqual([
      ['one', 'echo one'],
      ['two', 'echo two'],
    ]);

    const report = await runBin(['report', file, '--json']);
    expect(report.code).toBe(0);
    expect((JSON.parse(report.stdout) as { session: string }[]).map((r) => r.session)).toEqual(['ws-1', '2:ws-1']);
    const replay = await runBin(['replay', file, '--target', backend.url.replace('http', 'ws'), '--session', '2:ws-1', '--json'], {}, 8000);
    expect(replay.code).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ ok: true, sessions: [{ session: '2:ws-1', sent: 1, received: 1 }] });
  });

  it('a run that a crash cut mid-line: the next run starts on a line of its own, and both load with a warning', async () => {
    const file = path.join(dir, 'torn.jsonl');
    await recordRun(file, 'before the crash');
    appendFileSync(file, '{"type":"message","session":"ws-9","from":"cli');
    await recordRun(file, 'after the crash');
    const rec = loadRecording(file);
    expect(rec.sessions.map((s) => s.id)).toEqual(['ws-1', '2:ws-1']);
    expect(rec.warnings).toEqual([expect.stringMatching(/an incomplete line at the end of a run \(the writer stopped mid-line\) was skipped/)]);
  });
});

describe('--skip-invalid', () => {
  it('a corrupt line in the middle stops report (exit 2, naming the line and the option); with --skip-invalid it is skipped and counted', async () => {
    const file = path.join(dir, 'corrupt.jsonl');
    await recordRun(file, 'x');
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.splice(2, 0, '{"type":"message", this is not JSON');
    writeFileSync(file, lines.join('\n'));
    const strict = await runBin(['report', file]);
    expect(strict.code).toBe(2);
    expect(strict.stderr).toMatch(/line 3: not valid JSON .*--skip-invalid skips such lines/);
    const lenient = await runBin(['report', file, '--skip-invalid', '--json']);
    expect(lenient.code).toBe(0);
    expect(lenient.stderr).toMatch(/1 invalid line was skipped \(--skip-invalid\)/);
    expect(JSON.parse(lenient.stdout)).toHaveLength(1);
  });
});
