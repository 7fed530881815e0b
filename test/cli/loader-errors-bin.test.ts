/**
 * Loader messages for foreign files through the real bin (issue 12): a HAR whose
 * request.headers is a string, or a recording line whose base64 is a number, stops `wstap
 * report|replay|serve|export` with exit 2 and one line on stderr that names the file, the entry
 * and the field, no stack trace; --skip-invalid skips the entry or line with a count.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SessionReport } from '../../src/recording/report.js';
import { runDeferred } from '../support/cleanup.js';
import { runWstap } from '../support/cli.js';
import { ensureBuilt } from '../support/process.js';
import { tmpFile, writeTmpFile } from '../support/temp.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

const T0 = 1736935200; // 2025-01-15T10:00:00Z, epoch seconds

/** A WebSocket entry as Chrome DevTools saves it (abridged). */
const wsEntry = (headers: unknown): Record<string, unknown> => ({
  _resourceType: 'websocket',
  startedDateTime: '2025-01-15T10:00:00.000Z',
  request: { method: 'GET', url: 'ws://localhost:8000/ws', httpVersion: 'HTTP/1.1', headers },
  response: { status: 101, statusText: 'Switching Protocols', headers: [] },
  _webSocketMessages: [
    { type: 'send', time: T0 + 0.5, opcode: 1, data: '{"op":"hello"}' },
    { type: 'receive', time: T0 + 0.6, opcode: 1, data: '{"op":"welcome"}' },
  ],
});
const HOST = [{ name: 'Host', value: 'localhost:8000' }];

/** A HAR: an ordinary page request, then the WebSocket entries. */
const harFile = (...entries: Record<string, unknown>[]): string =>
  writeTmpFile(
    'bad.har',
    JSON.stringify(
      { log: { version: '1.2', entries: [{ request: { method: 'GET', url: 'http://localhost:3000/', headers: [] } }, ...entries] } },
      null,
      2,
    ),
  );

describe('a HAR whose request.headers is not an array', () => {
  const expected = (file: string): string =>
    `wstap: ${file}: log.entries[1]: request.headers must be an array of {name, value}, not "Host: localhost:8000"\n`;

  it('wstap report: exit 2, the file, the entry and the field on one line, nothing on stdout', async () => {
    const file = harFile(wsEntry('Host: localhost:8000'));
    const r = await runWstap(['report', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(expected(file));
    expect(r.stdout).toBe('');
  });

  it('wstap replay, serve and export: the same line, exit 2 (export writes no file)', async () => {
    const file = harFile(wsEntry('Host: localhost:8000'));
    const out = tmpFile('out.har');
    for (const args of [
      ['replay', file, '--target', 'ws://127.0.0.1:9'],
      ['serve', file, '--port', '0'],
      ['export', file, '--har', out],
    ]) {
      const r = await runWstap(args);
      expect({ command: args[0], code: r.code, stderr: r.stderr }).toEqual({ command: args[0], code: 2, stderr: expected(file) });
    }
    expect(existsSync(out)).toBe(false);
  });

  it('--skip-invalid: the entry is skipped with a count, the valid one is reported', async () => {
    const file = harFile(wsEntry('Host: localhost:8000'), wsEntry(HOST));
    const r = await runWstap(['report', file, '--skip-invalid', '--json']);
    expect(r.stderr).toBe(`wstap: ${file}: 1 invalid WebSocket entry was skipped (--skip-invalid)\n`);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as SessionReport[]).map((s) => [s.session, s.path, s.messages])).toEqual([
      ['har-2', '/ws', { client: 1, server: 1 }],
    ]);
  });

  it('a HAR that is JSON null: exit 2, "is not a HAR file"', async () => {
    const file = writeTmpFile('null.har', 'null\n');
    const r = await runWstap(['report', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`wstap: ${file} is not a HAR file: it must be a JSON object {"log": {"entries": [...]}}, not null\n`);
  });
});

describe('a recording line with a field of the wrong shape', () => {
  const lines = [
    { type: 'header', format: 'wstap-recording', version: 1, createdAt: '2025-01-15T10:00:00.000Z', wstap: '0.1.0', payloads: 'full' },
    {
      type: 'open',
      session: 'ws-1',
      ts: 1736935200000,
      request: { method: 'GET', path: '/ws', httpVersion: '1.1', headers: HOST },
      outcome: 'tunnel',
      findings: [],
    },
    { type: 'message', session: 'ws-1', from: 'client', t: 1, kind: 'text', text: 'hi' },
    { type: 'message', session: 'ws-1', from: 'server', t: 2, kind: 'binary', base64: 42 },
    { type: 'message', session: 'ws-1', from: 'server', t: 3, kind: 'text', text: 'ok' },
  ];
  const recording = (): string => {
    const file = tmpFile('bad.jsonl');
    writeFileSync(file, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
    return file;
  };

  it('wstap report: exit 2 with the line and the field', async () => {
    const file = recording();
    const r = await runWstap(['report', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`wstap: ${file}: line 4: base64 must be a string, not 42\n`);
    expect(r.stdout).toBe('');
  });

  it('--skip-invalid: the line is skipped with a count, the rest is reported', async () => {
    const file = recording();
    const r = await runWstap(['report', file, '--skip-invalid', '--json']);
    expect(r.stderr).toBe(`wstap: ${file}: 1 invalid event was skipped (--skip-invalid)\n`);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as SessionReport[]).map((s) => [s.session, s.messages])).toEqual([['ws-1', { client: 1, server: 1 }]]);
  });
});
