/**
 * A reconnect loop seen by the real bin (issue 15, part): a page in real Chromium whose own
 * script reconnects whenever its WebSocket closes, against a backend that closes with 1008
 * without credentials (the demo backend). wstap names the loop once it has three sessions, with
 * the count, the period, the cause and the auth fix, and again as it grows, never once per
 * session; the live view's findings panel has it; a client whose sessions succeed gets none.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend } from '../support/backends.js';
import { runWstap, startJsonProxy, type LogLine } from '../support/cli.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { fakeJwt } from '../support/helpers.js';
import { chromiumForFile, servePage } from '../support/peers/chromium.js';
import { ensureBuilt } from '../support/process.js';
import { sleep } from '../support/wait.js';
import { tmpFile } from '../support/temp.js';
import { loadRecording } from '../../src/recording/loader.js';
import { wsClient } from '../support/ws-client.js';
import { closed, connected } from '../support/cli.js';

beforeAll(ensureBuilt, 120_000);
const getBrowser = chromiumForFile();
afterEach(runDeferred);

const patterns = (lines: LogLine[]): LogLine[] => lines.filter((l) => l['event'] === 'pattern');

describe('reconnect loops', () => {
  it('a page that reconnects after each 1008: one reconnect-loop line at 3 sessions and at 5, with the count, period, cause and the auth fix', async () => {
    const app = await servePage(getBrowser(), '<!doctype html><title>app</title>');
    defer(() => app.close());
    // The page's Origin is allowed: the backend accepts the upgrade, then closes with 1008 (no credential).
    const backend = await demoBackend({ CORS_ORIGINS: app.origin });
    const { w, port } = await startJsonProxy(['--target', backend.url]);
    await app.page.evaluate((url) => {
      const g = globalThis as unknown as { opened: number };
      g.opened = 0;
      const connect = (): void => {
        if (g.opened >= 6) return;
        g.opened++;
        const ws = new WebSocket(url);
        ws.onclose = () => setTimeout(connect, 50);
      };
      connect();
    }, `ws://127.0.0.1:${port}/ws`);
    const fifth = await w.waitForJson((l) => l['event'] === 'pattern' && String(l['msg']).includes('opened 5 sessions'), 'the loop at 5');
    expect(String(fifth['msg'])).toMatch(
      /^reconnect-loop: 127\.0\.0\.1, Origin http:\/\/127\.0\.0\.1:\d+, \/ws opened 5 sessions in [\d.]+ m?s \(one every [\d.]+ m?s\), each ended with close 1008 by the server/,
    );
    expect(String(fifth['msg'])).toContain('fix: Each attempt fails authentication');
    expect(fifth['sessions']).toEqual(['ws-1', 'ws-2', 'ws-3', 'ws-4', 'ws-5']);
    // The page stops after six sessions: wait for the last end, then a real-time margin for a line that would come late (a negative).
    await w.waitForJson((l) => l['event'] === 'session-end' && l['session'] === 'ws-6', 'the sixth end');
    await sleep(200);
    // Reported at 3 and at 5: not once per session (6 sessions opened).
    expect(patterns(w.json()).map((l) => String(l['msg']).match(/opened (\d+) sessions/)?.[1])).toEqual(['3', '5']);
    const { findings } = (await (await fetch(`http://127.0.0.1:${port}/__wstap/api/findings`)).json()) as {
      findings: { code: string; sessions: string[]; message: string }[];
    };
    const loop = findings.find((f) => f.code === 'reconnect-loop');
    expect(loop?.message).toContain('opened 5 sessions');
    expect(loop?.sessions.length).toBe(5);
  });

  it('a client that ends its own sessions normally (1000), reconnecting as often, gets no reconnect-loop', async () => {
    const backend = await demoBackend();
    const { w, port } = await startJsonProxy(['--target', backend.url]);
    for (let i = 0; i < 5; i++) {
      const ws = wsClient(`ws://127.0.0.1:${port}/ws`, { headers: { Origin: 'http://localhost:3000', Authorization: `Bearer ${fakeJwt(600)}` } });
      await connected(ws);
      ws.close(1000);
      await closed(ws);
    }
    await w.waitForJson((l) => l['event'] === 'session-end' && l['session'] === 'ws-5', 'the fifth end');
    // A real-time wait for a negative: no pattern line comes after the last end either.
    await sleep(200);
    expect(patterns(w.json())).toEqual([]);
  });

  it('wstap report finds the loop in a recording after the fact, as the proxy wrote it there', async () => {
    const backend = await demoBackend();
    const file = tmpFile('loop.jsonl');
    const { w, port } = await startJsonProxy(['--target', backend.url, '--record', file]);
    for (let i = 0; i < 4; i++) {
      const ws = wsClient(`ws://127.0.0.1:${port}/ws`, { headers: { Origin: 'http://localhost:3000' } });
      await closed(ws);
    }
    await w.waitForJson((l) => l['event'] === 'session-end' && l['session'] === 'ws-4', 'the fourth end');
    w.proc.kill('SIGTERM');
    await w.exited;
    const recorded = loadRecording(file).patterns?.map((p) => p.message) ?? [];
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toContain('opened 3 sessions');
    const r = await runWstap(['report', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /Patterns across sessions:\n {2}reconnect-loop: 127\.0\.0\.1, Origin http:\/\/localhost:3000, \/ws opened 4 sessions in [\d.]+ m?s \(one every [\d.]+ m?s\), each ended with close 1008 by the server/,
    );
    expect(r.stdout).toContain('sessions: ws-1, ws-2, ws-3, ws-4');
    const j = await runWstap(['report', file, '--json', '--patterns-json']);
    expect((JSON.parse(j.stdout) as { finding: { code: string } }[]).map((p) => p.finding.code)).toEqual(['reconnect-loop']);
  });

  it('--no-patterns: the same loop gives no pattern line', async () => {
    const backend = await demoBackend();
    const { w, port } = await startJsonProxy(['--target', backend.url, '--no-patterns']);
    for (let i = 0; i < 4; i++) await closed(wsClient(`ws://127.0.0.1:${port}/ws`, { headers: { Origin: 'http://localhost:3000' } }));
    await w.waitForJson((l) => l['event'] === 'session-end' && l['session'] === 'ws-4', 'the fourth end');
    // A real-time wait for a negative: no pattern line comes after the last end either.
    await sleep(200);
    expect(patterns(w.json())).toEqual([]);
  });
});
