/**
 * README claims of the real bin that no other test runs: a recording whose file stops
 * taking bytes in the middle (the file size limit, as a full disk would) says so once and
 * the proxy goes on; the default listen includes ::1; the container detection as it is on
 * this machine (every other test pins it); replay and serve keep the recorded gaps with
 * --timing original.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadRecording } from '../../src/recording/loader.js';
import { demoBackend } from '../support/backends.js';
import { connected, runWstap, startWstap } from '../support/cli.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { fakeJwt, refusedPort } from '../support/helpers.js';
import { BIN, cleanEnv, ensureBuilt, start } from '../support/process.js';
import { closeClient, openClient } from '../support/recording.js';
import { wsBackend } from '../support/replay.js';
import { tmpFile } from '../support/temp.js';
import { until } from '../support/wait.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

describe('claims of the bin', () => {
  it('a recording that hits the file size limit midway (as a full disk would): one recording-stopped line, the proxy goes on, the file loads', async () => {
    const backend = await demoBackend();
    const file = tmpFile('limited.jsonl');
    // 16 blocks of 512 bytes; SIGXFSZ ignored, so a write past the limit fails with EFBIG instead of killing the process.
    const bin = start(
      '/bin/sh',
      [
        '-c',
        `trap '' XFSZ; ulimit -f 16; exec "${process.execPath}" "${BIN}" --target ${backend.url} --port 0 --host 127.0.0.1 --log-format json --record "${file}"`,
      ],
      { env: cleanEnv({ WSTAP_IN_CONTAINER: 'false' }) },
    );
    defer(() => void bin.proc.kill('SIGKILL'));
    const listening = await bin.waitForJson((l) => l['event'] === 'listening', 'the listening line');
    const port = (listening['addresses'] as { port: number }[])[0]!.port;
    const c = await openClient(`ws://127.0.0.1:${port}/ws?token=${fakeJwt(600)}`);
    for (let i = 0; i < 60; i++) expect(JSON.parse((await c.ask(JSON.stringify({ i, pad: 'z'.repeat(300) }))).text)).toMatchObject({ data: { i } });
    await closeClient(c);
    await bin.waitForJson((l) => l['event'] === 'session-end', 'the session-end line');
    const stopped = bin.json().filter((l) => l['event'] === 'recording-stopped');
    expect(stopped).toHaveLength(1);
    expect(String(stopped[0]!['msg'])).toMatch(/stopped: the file reached its size limit \(ulimit -f\); proxying goes on/);
    expect(statSync(file).size).toBeLessThanOrEqual(16 * 512);
    bin.proc.kill('SIGTERM');
    expect((await bin.exited).code).toBe(0);
    // What was written before the limit loads (a line cut by it is skipped with a warning).
    const rec = loadRecording(file);
    expect(rec.sessions).toHaveLength(1);
    expect(rec.sessions[0]!.messages.length).toBeGreaterThan(3);
  });

  it('without --host it listens on 127.0.0.1 and ::1, and a client on ::1 gets through', async () => {
    const backend = await demoBackend();
    const w = startWstap(['--target', backend.url, '--port', '0', '--log-format', 'json']);
    const listening = await w.waitForJson((l) => l['event'] === 'listening', 'the listening line');
    const addresses = (listening['addresses'] as { address: string; port: number }[]).map((a) => a.address).sort();
    expect(addresses).toEqual(['127.0.0.1', '::1']);
    const port = (listening['addresses'] as { port: number }[])[0]!.port;
    const ws = new WebSocket(`ws://[::1]:${port}/ws?token=${fakeJwt(600)}`);
    defer(() => ws.terminate());
    await connected(ws);
    const answer = new Promise<string>((r) => ws.once('message', (d) => r(d.toString())));
    ws.send('{"over":"ipv6"}');
    expect(JSON.parse(await answer)).toMatchObject({ data: { over: 'ipv6' } });
    const hs = await w.waitForJson((l) => l['event'] === 'handshake', 'the handshake line');
    expect(hs['client']).toMatch(/^\[::1\]:\d+$/);
  });

  it('the container detection as this machine is (not pinned): check names the evidence it found, or nothing when there is none', async () => {
    const markers = ['/.dockerenv', '/run/.containerenv'].filter((f) => existsSync(f));
    const cgroup = existsSync('/proc/1/cgroup') ? readFileSync('/proc/1/cgroup', 'utf8') : '';
    const inContainer = markers.length > 0 || /docker|containerd|kubepods|libpod|lxc/.test(cgroup);
    const r = await runWstap(['check', `ws://localhost:${await refusedPort()}/ws`, '--json'], { WSTAP_IN_CONTAINER: '' }, 10_000);
    const steps = (JSON.parse(r.stdout) as { steps: { name: string; detail: string; findings: { code: string }[] }[] }).steps;
    const env = steps.find((s) => s.name === 'environment');
    if (inContainer) {
      expect(env?.detail).toMatch(/^in a container \(/);
      if (markers.length) expect(env!.detail).toContain(`(${markers[0]})`);
      expect(env!.findings.map((f) => f.code)).toEqual(['localhost-in-container']);
    } else {
      expect(env).toBeUndefined();
    }
  });

  it('--timing original: replay keeps the recorded gap before a client message, serve the gap between server messages', async () => {
    const file = tmpFile('gaps.jsonl');
    const line = (o: Record<string, unknown>): string => JSON.stringify(o);
    const msg = (from: string, t: number, text: string) =>
      line({
        type: 'message',
        session: 'ws-1',
        from,
        t,
        ts: 1_800_000_000_000 + t,
        kind: 'text',
        opcode: 1,
        frames: 1,
        compressed: false,
        size: text.length,
        wireSize: text.length + 6,
        text,
      });
    writeFileSync(
      file,
      `${[
        line({
          type: 'header',
          format: 'wstap-recording',
          version: 1,
          createdAt: '2027-01-01T00:00:00.000Z',
          wstap: '0.1.0',
          payloads: 'full',
          target: 'http://127.0.0.1:1',
        }),
        line({
          type: 'open',
          session: 'ws-1',
          ts: 1_800_000_000_000,
          client: '127.0.0.1:1',
          request: { method: 'GET', path: '/ws', httpVersion: '1.1', headers: [] },
          response: { status: 101, reason: 'Switching Protocols', headers: [] },
          outcome: 'tunnel',
          findings: [],
        }),
        msg('client', 10, 'first'),
        msg('server', 20, 'one'),
        msg('server', 1520, 'two'),
        msg('client', 1530, 'second'),
        msg('server', 1540, 'three'),
        line({ type: 'close', session: 'ws-1', t: 1600, ts: 1_800_000_001_600, endedBy: 'client', how: 'fin', durationMs: 1600, findings: [] }),
      ].join('\n')}\n`,
    );

    // replay: the second client message leaves about 1.5 s after the first, as recorded.
    const arrivals: number[] = [];
    const backend = await wsBackend((ws) =>
      ws.on('message', (d) => {
        arrivals.push(performance.now());
        if (d.toString() === 'first') {
          ws.send('one');
          ws.send('two');
        } else ws.send('three');
      }),
    );
    const r = await runWstap(['replay', file, '--target', backend.wsUrl, '--timing', 'original'], {}, 10_000);
    expect(r.code).toBe(0);
    expect(arrivals).toHaveLength(2);
    expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(1300);

    // serve: the second server message of the run comes about 1.5 s after the first.
    const bin = startWstap(['serve', file, '--port', '0', '--timing', 'original']);
    const [, url] = await bin.waitForText(/on (ws:\/\/127\.0\.0\.1:\d+)/);
    const ws = new WebSocket(`${url}/ws`);
    defer(() => ws.terminate());
    const got: { text: string; at: number }[] = [];
    ws.on('message', (d) => got.push({ text: d.toString(), at: performance.now() }));
    await connected(ws);
    ws.send('first');
    await until(() => got.length >= 2, 'the two server messages', { timeoutMs: 10_000, seen: () => got.map((g) => g.text) });
    expect(got.map((g) => g.text)).toEqual(['one', 'two']);
    expect(got[1]!.at - got[0]!.at).toBeGreaterThanOrEqual(1300);
  });
});
