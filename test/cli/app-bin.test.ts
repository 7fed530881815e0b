/**
 * Application protocols as the real bin shows them: --protocol forces a protocol on a path
 * where the first messages would not reveal it; the debug log has the protocol's line for
 * each message (and --match finds messages by it), the session-end line the operations;
 * the recording keeps each annotation beside the raw payload; `wstap report` groups the
 * operations over sessions; the metrics have the operations' latency.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { loadRecording } from '../../src/recording/loader.js';
import { closed, connected, runWstap, startJsonProxy, type LogLine } from '../support/cli.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { ensureBuilt } from '../support/process.js';
import { tmpFile } from '../support/temp.js';
import { until } from '../support/wait.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

/** Echoes plain text; answers JSON-RPC requests with a sum. */
async function backend(): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const text = data.toString();
      if (!text.startsWith('{')) return void ws.send(text);
      const req = JSON.parse(text) as { id: number; params: number[] };
      setTimeout(() => ws.send(JSON.stringify({ jsonrpc: '2.0', id: req.id, result: req.params.reduce((a, b) => a + b, 0) })), 2);
    });
  });
  defer(() => new Promise<void>((r) => wss.close(() => r())));
  return `http://127.0.0.1:${(wss.address() as { port: number }).port}`;
}

/** Five plain messages first (past what detection looks at), then two JSON-RPC requests answered. */
async function session(url: string): Promise<void> {
  const ws = new WebSocket(url);
  const answers: string[] = [];
  ws.on('message', (d) => answers.push(d.toString()));
  await connected(ws);
  for (let i = 0; i < 5; i++) ws.send(`hello ${i}`);
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'sum', params: [1, 2] }));
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'sum', params: [3, 4] }));
  await until(() => answers.length === 7, 'the answers', { seen: () => answers });
  ws.close(1000, 'done');
  await closed(ws);
}

const ofSession = (lines: LogLine[], id: string, event: string): LogLine[] => lines.filter((l) => l['session'] === id && l['event'] === event);

describe('application protocols in the bin', () => {
  it('--protocol per path, the debug log lines and --match on them, the recording, wstap report and the metrics', async () => {
    const target = await backend();
    const file = tmpFile('app.jsonl');
    const { w, port } = await startJsonProxy([
      '--target',
      target,
      '--log-level',
      'debug',
      '--record',
      file,
      '--protocol',
      '/rpc=json-rpc',
      '--match',
      'result of sum|request sum',
    ]);
    await session(`ws://127.0.0.1:${port}/rpc`);
    await session(`ws://127.0.0.1:${port}/other`);
    await w.waitForJson((l) => l['event'] === 'session-end' && l['session'] === 'ws-2', 'the second session end');

    // Forced on /rpc: the handshake says so, and every JSON-RPC message has its line.
    const lines = w.json();
    const hs = ofSession(lines, 'ws-1', 'handshake')[0]!;
    expect(hs['app']).toEqual({ protocol: 'json-rpc', by: 'forced' });
    expect(String(hs['msg'])).toMatch(/ · json-rpc$/);
    const messages = ofSession(lines, 'ws-1', 'message').map((l) => String(l['msg']));
    // --match: the requests by their text, the results by their protocol line alone (their payload does not say "sum").
    expect(messages).toHaveLength(4);
    expect(messages[0]).toMatch(/^ws-1 → JSON-RPC request sum \(id 1\) · \d+ B \{"jsonrpc"/);
    expect(messages).toContainEqual(
      expect.stringMatching(/^ws-1 ← JSON-RPC result of sum \(id 1\) \[answers sum in [\d.]+ ms\] · \d+ B \{"jsonrpc":"2\.0","id":1,"result":3\}$/),
    );
    const end = ofSession(lines, 'ws-1', 'session-end')[0]!;
    expect(String(end['msg'])).toMatch(/ · json-rpc: sum ×2 p50 [\d.]+ ms$/);
    expect((end['app'] as { undecoded: number }).undecoded).toBe(10);
    // /other is not forced, and its first messages say nothing: not decoded.
    expect(ofSession(lines, 'ws-2', 'handshake')[0]!['app']).toBeUndefined();
    expect(ofSession(lines, 'ws-2', 'session-end')[0]!['app']).toBeUndefined();

    // The metrics: the operation's latency by protocol and name.
    const metrics = await (await fetch(`http://127.0.0.1:${port}/__wstap/metrics`)).text();
    expect(metrics).toMatch(/^wstap_operation_latency_seconds_count\{protocol="json-rpc",operation="sum"\} 2$/m);
    expect(metrics).toMatch(/^wstap_app_packets_total\{protocol="json-rpc",type="request"\} 2$/m);
    w.proc.kill('SIGTERM');
    await w.exited;

    // The recording: the annotation beside the raw payload, the operations in the close.
    const rec = loadRecording(file);
    const s1 = rec.sessions.find((s) => s.id === 'ws-1')!;
    expect(s1.open.app).toEqual({ protocol: 'json-rpc', by: 'forced' });
    const result = s1.messages.find((m) => m.app?.packets[0]?.type === 'result')!;
    expect(result.text).toBe('{"jsonrpc":"2.0","id":1,"result":3}');
    expect(result.app).toMatchObject({
      protocol: 'json-rpc',
      line: 'JSON-RPC result of sum (id 1)',
      packets: [{ type: 'result', name: 'sum', id: '1' }],
    });
    expect(result.app!.packets[0]!.answers).toMatchObject({ operation: 'sum' });
    expect(s1.close!.app!.operations).toEqual([expect.objectContaining({ operation: 'sum', count: 2, errors: 0, unanswered: 0 })]);

    // wstap report: a protocol column, and the operations over every session.
    const report = await runWstap(['report', file]);
    expect(report.code).toBe(0);
    expect(report.stdout).toMatch(/^ws-1\s.*\s101\s+json-rpc\s/m);
    expect(report.stdout).toContain('Operations (application protocols):');
    expect(report.stdout).toMatch(/^json-rpc\s+sum\s+2\s+0\s+0\s+[\d.]+\/[\d.]+\/[\d.]+\s+1$/m);
    const json = await runWstap(['report', file, '--json', '--operations-json']);
    expect(JSON.parse(json.stdout)).toEqual([
      expect.objectContaining({ protocol: 'json-rpc', operation: 'sum', count: 2, sessions: 1, latency: expect.objectContaining({ count: 2 }) }),
    ]);
  });

  it('a protocol that is not one: a usage error that lists the names', async () => {
    const r = await runWstap(['--target', 'http://127.0.0.1:9', '--protocol', 'graphql']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown protocol "graphql" (one of socket.io, graphql-ws, subscriptions-transport-ws, stomp, mqtt, json-rpc, none');
  });
});
