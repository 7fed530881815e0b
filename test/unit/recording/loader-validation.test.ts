/**
 * Loader messages for foreign files (issue 12): a HAR or a .jsonl recording whose fields have
 * the wrong shape is refused with the loader's own error (HarError, RecordingError), in one
 * line that names the file, the entry (log.entries[3], line 12) and the field, never with a
 * TypeError. The property tests turn every field of a valid HAR entry and of a valid recording
 * into null, a number, a string, an object, an array (or remove it): each file either loads,
 * and then reports and exports, or is refused by the loader's own error.
 */
import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { payloadOf, type Recording } from '../../../src/recording/format.js';
import { HarError, harToRecording, recordingToHar } from '../../../src/recording/har.js';
import { loadRecording, parseRecording, RecordingError } from '../../../src/recording/loader.js';
import { formatReport, reportRecording } from '../../../src/recording/report.js';
import { replayHandshake } from '../../../src/replay/handshake.js';
import { runDeferred } from '../../support/cleanup.js';
import { tmpFile } from '../../support/temp.js';

afterEach(runDeferred);

type Json = Record<string, unknown>;

// --- a valid HAR: an ordinary request (entry 0) and a WebSocket (entry 1) ---------------------

const T0 = 1736935200; // 2025-01-15T10:00:00Z, epoch seconds

function validHar(): { log: Json & { entries: Json[] } } {
  return {
    log: {
      version: '1.2',
      creator: { name: 'WebInspector', version: '537.36' },
      pages: [],
      entries: [
        {
          _resourceType: 'document',
          request: { method: 'GET', url: 'http://localhost:3000/', headers: [{ name: 'Host', value: 'localhost:3000' }] },
          response: { status: 200, statusText: 'OK', headers: [] },
          startedDateTime: '2025-01-15T09:59:59.500Z',
        },
        {
          _resourceType: 'websocket',
          startedDateTime: '2025-01-15T10:00:00.000Z',
          request: {
            method: 'GET',
            url: 'ws://localhost:8000/ws?room=lobby',
            httpVersion: 'HTTP/1.1',
            headers: [
              { name: 'Host', value: 'localhost:8000' },
              { name: 'Origin', value: 'http://localhost:3000' },
              { name: 'Sec-WebSocket-Protocol', value: 'chat' },
            ],
          },
          response: {
            status: 101,
            statusText: 'Switching Protocols',
            headers: [
              { name: 'Sec-WebSocket-Protocol', value: 'chat' },
              { name: 'Sec-WebSocket-Extensions', value: 'permessage-deflate' },
            ],
          },
          _webSocketMessages: [
            { type: 'send', time: T0 + 0.5, opcode: 1, data: '{"op":"hello"}' },
            { type: 'receive', time: T0 + 0.6, opcode: 1, data: '{"op":"welcome"}' },
            { type: 'send', time: T0 + 1, opcode: 2, data: Buffer.from([1, 2, 255]).toString('base64') },
          ],
          _webSocketClose: { code: 1000, reason: 'bye', timestamp: T0 + 2, initiator: 'client' },
        },
      ],
    },
  };
}

const wsEntry = (har: ReturnType<typeof validHar>): Json & { request: Json; _webSocketMessages: Json[] } =>
  har.log.entries[1] as Json & { request: Json; _webSocketMessages: Json[] };

/** The loader's error (HarError or RecordingError) thrown by fn; fails the test on anything else. */
function loaderError(fn: () => unknown): HarError | RecordingError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HarError || err instanceof RecordingError) return err;
    throw err;
  }
  throw new Error('expected the loader to refuse the file, but it loaded');
}

describe('a HAR with a field of the wrong shape: the file, the entry and the field', () => {
  it('the valid HAR loads: entry 1 is the session, its messages and close are read', () => {
    const rec = harToRecording(JSON.stringify(validHar()), 'good.har');
    expect(rec.sessions.map((s) => s.id)).toEqual(['har-1']);
    const s = rec.sessions[0]!;
    expect(s.open).toMatchObject({ request: { path: '/ws?room=lobby' }, protocol: 'chat', extensions: 'permessage-deflate', outcome: 'tunnel' });
    expect(s.messages.map((m) => [m.from, m.kind])).toEqual([
      ['client', 'text'],
      ['server', 'text'],
      ['client', 'binary'],
    ]);
    expect(s.close!.close).toMatchObject({ code: 1000, reason: 'bye', initiator: 'client' });
  });

  it('request.headers that is a string (the issue): the entry, the field and the value found', () => {
    const har = validHar();
    wsEntry(har).request['headers'] = 'Host: localhost:8000';
    const e = loaderError(() => harToRecording(JSON.stringify(har), 'bad.har'));
    expect(e).toBeInstanceOf(HarError);
    expect(e.message).toBe('bad.har: log.entries[1]: request.headers must be an array of {name, value}, not "Host: localhost:8000"');
    expect(e).toMatchObject({ entry: 1, field: 'request.headers' });
  });

  const cases: { name: string; change: (e: ReturnType<typeof wsEntry>, har: ReturnType<typeof validHar>) => void; message: string }[] = [
    {
      name: 'a header whose name is a number',
      change: (e) => ((e.request['headers'] as Json[])[1]!['name'] = 5),
      message: 'bad.har: log.entries[1]: request.headers[1].name must be a string, not 5',
    },
    {
      name: 'a header that is null',
      change: (e) => ((e.request['headers'] as unknown[])[0] = null),
      message: 'bad.har: log.entries[1]: request.headers[0] must be {name, value} with strings, not null',
    },
    {
      name: 'request.url missing',
      change: (e) => delete e.request['url'],
      message: 'bad.har: log.entries[1]: request.url is missing (a string is required)',
    },
    {
      name: 'request.url that is a path',
      change: (e) => (e.request['url'] = '/ws'),
      message: 'bad.har: log.entries[1]: request.url must be a ws:// or wss:// URL, not "/ws"',
    },
    {
      name: 'request.url without a scheme',
      change: (e) => (e.request['url'] = 'localhost:8000/ws'),
      message: 'bad.har: log.entries[1]: request.url must be a ws:// or wss:// URL, not "localhost:8000/ws"',
    },
    {
      name: 'request that is an array',
      change: (e) => ((e as Json)['request'] = []),
      message: 'bad.har: log.entries[1]: request must be an object, not []',
    },
    {
      name: 'response.status as a string',
      change: (e) => ((e['response'] as Json)['status'] = '101'),
      message: 'bad.har: log.entries[1]: response.status must be a number (an HTTP status from 0 to 999), not "101"',
    },
    {
      name: 'a message whose data is a number',
      change: (e) => (e._webSocketMessages[1]!['data'] = 42),
      message: 'bad.har: log.entries[1]: _webSocketMessages[1].data must be a string, not 42',
    },
    {
      name: 'a binary message that is not base64',
      change: (e) => (e._webSocketMessages[2]!['data'] = 'not base64!'),
      message: 'bad.har: log.entries[1]: _webSocketMessages[2].data must be base64, not "not base64!"',
    },
    {
      name: 'a message time as a date string',
      change: (e) => (e._webSocketMessages[0]!['time'] = '2025-01-15T10:00:00Z'),
      message: 'bad.har: log.entries[1]: _webSocketMessages[0].time must be a number, not "2025-01-15T10:00:00Z"',
    },
    {
      name: 'a message type that is neither send nor receive',
      change: (e) => (e._webSocketMessages[0]!['type'] = 'sent'),
      message: 'bad.har: log.entries[1]: _webSocketMessages[0].type must be "send" or "receive", not "sent"',
    },
    {
      name: 'a message that is a string',
      change: (e) => ((e._webSocketMessages as unknown[])[0] = 'hi'),
      message: 'bad.har: log.entries[1]: _webSocketMessages[0] must be an object {type, time, opcode, data}, not "hi"',
    },
    {
      name: '_webSocketMessages that is an object',
      change: (e) => ((e as Json)['_webSocketMessages'] = {}),
      message: 'bad.har: log.entries[1]: _webSocketMessages must be an array, not {}',
    },
    {
      name: 'a close code out of range',
      change: (e) => ((e['_webSocketClose'] as Json)['code'] = 70000),
      message: 'bad.har: log.entries[1]: _webSocketClose.code must be a number (a close code from 0 to 65535), not 70000',
    },
    {
      name: 'a start time that is no date',
      change: (e) => (e['startedDateTime'] = 'yesterday'),
      message: 'bad.har: log.entries[1]: startedDateTime must be a date (2025-01-15T10:00:00.000Z), not "yesterday"',
    },
    {
      name: 'an entry that is null',
      change: (_e, har) => (har.log.entries[1] = null as unknown as Json),
      message: 'bad.har: log.entries[1] must be an object, not null',
    },
    {
      name: 'log.entries that is an object',
      change: (_e, har) => ((har.log as Json)['entries'] = { 0: {} }),
      message: 'bad.har is not a HAR file: log.entries must be an array, not {"0":{}}',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const har = validHar();
      c.change(wsEntry(har), har);
      const e = loaderError(() => harToRecording(JSON.stringify(har), 'bad.har'));
      expect(e).toBeInstanceOf(HarError);
      expect(e.message).toBe(c.message);
    });
  }

  it('a file that is JSON but no HAR object (null, a number, a list): "is not a HAR file"', () => {
    expect(loaderError(() => harToRecording('null', 'x.har')).message).toBe(
      'x.har is not a HAR file: it must be a JSON object {"log": {"entries": [...]}}, not null',
    );
    expect(loaderError(() => harToRecording('[1]', 'x.har')).message).toMatch(/^x\.har is not a HAR file: .* not \[1\]$/);
    expect(loaderError(() => harToRecording('{"log": 7}', 'x.har')).message).toBe('x.har is not a HAR file: log must be an object, not 7');
  });

  it('--skip-invalid skips an invalid WebSocket entry with a count; the others load under their own ids', () => {
    const har = validHar();
    har.log.entries.push(structuredClone(wsEntry(har)));
    wsEntry(har).request['headers'] = 'Host: localhost:8000';
    const text = JSON.stringify(har);
    expect(loaderError(() => harToRecording(text, 'bad.har')).message).toMatch(/^bad\.har: log\.entries\[1\]: request\.headers/);
    const rec = harToRecording(text, 'bad.har', { skipInvalid: true });
    expect(rec.sessions.map((s) => s.id)).toEqual(['har-2']);
    expect(rec.warnings).toEqual(['1 invalid WebSocket entry was skipped (--skip-invalid)']);
  });

  it('--skip-invalid with no valid WebSocket entry left: refused, saying so', () => {
    const har = validHar();
    wsEntry(har).request['headers'] = 'Host: localhost:8000';
    expect(loaderError(() => harToRecording(JSON.stringify(har), 'bad.har', { skipInvalid: true })).message).toBe(
      'bad.har has no valid WebSocket entries: 1 invalid WebSocket entry was skipped (--skip-invalid)',
    );
  });

  it('loadRecording of a .har file: the same message, with the path of the file', () => {
    const har = validHar();
    wsEntry(har).request['headers'] = 'Host: localhost:8000';
    const file = tmpFile('bad.har');
    writeFileSync(file, JSON.stringify(har, null, 2));
    expect(loaderError(() => loadRecording(file)).message).toBe(
      `${file}: log.entries[1]: request.headers must be an array of {name, value}, not "Host: localhost:8000"`,
    );
    expect(loaderError(() => loadRecording(file, { skipInvalid: true })).message).toBe(
      `${file} has no valid WebSocket entries: 1 invalid WebSocket entry was skipped (--skip-invalid)`,
    );
  });
});

// --- a valid recording: every kind of line, every optional field ------------------------------

function validLines(): Json[] {
  return [
    {
      type: 'header',
      format: 'wstap-recording',
      version: 1,
      createdAt: '2025-01-15T10:00:00.000Z',
      wstap: '0.1.0',
      target: 'http://localhost:8000',
      payloads: 'full',
    },
    {
      type: 'open',
      session: 'ws-1',
      ts: 1736935200000,
      client: '127.0.0.1:50000',
      request: {
        method: 'GET',
        path: '/ws?token=[REDACTED]&room=7',
        httpVersion: '1.1',
        headers: [
          { name: 'Host', value: 'localhost:8000' },
          { name: 'Sec-WebSocket-Protocol', value: 'chat' },
        ],
      },
      response: { status: 101, reason: 'Switching Protocols', headers: [{ name: 'Sec-WebSocket-Protocol', value: 'chat' }] },
      outcome: 'tunnel',
      protocol: 'chat',
      extensions: 'permessage-deflate',
      handshakeMs: 2.5,
      findings: [{ code: 'auth-missing', severity: 'warn', message: 'No credential in the upgrade request.' }],
    },
    {
      type: 'message',
      session: 'ws-1',
      from: 'client',
      t: 1,
      ts: 1736935200001,
      kind: 'text',
      opcode: 1,
      frames: 1,
      compressed: true,
      size: 2,
      wireSize: 8,
      text: 'hi',
    },
    {
      type: 'message',
      session: 'ws-1',
      from: 'server',
      t: 2,
      ts: 1736935200002,
      kind: 'binary',
      opcode: 2,
      frames: 2,
      compressed: false,
      size: 3,
      wireSize: 9,
      base64: 'AQL/',
      truncated: true,
      latencyMs: 1,
    },
    {
      type: 'message',
      session: 'ws-1',
      from: 'client',
      t: 3,
      ts: 1736935200003,
      kind: 'close',
      opcode: 8,
      frames: 1,
      compressed: false,
      size: 5,
      wireSize: 11,
      text: 'bye',
      closeCode: 1000,
    },
    {
      type: 'close',
      session: 'ws-1',
      t: 5,
      ts: 1736935200005,
      endedBy: 'client',
      how: 'fin',
      note: 'done',
      durationMs: 5,
      close: { initiator: 'client', code: 1000, reason: 'bye', meaning: 'normal closure', clean: true, handshakeMs: 1 },
      messages: {
        client: { messages: 2, data: 1, control: 1, wireBytes: 19, payloadBytes: 7 },
        server: { messages: 1, data: 1, control: 0, wireBytes: 9, payloadBytes: 3, blind: true },
      },
      latency: { requests: { count: 1, p50: 1, p95: 1, p99: 1, max: 1 }, correlation: '$.id', inOrder: 1 },
      findings: [{ code: 'close-policy', severity: 'warn', message: 'closed' }],
    },
  ];
}

const jsonl = (lines: readonly unknown[]): string => `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`;

describe('a .jsonl recording with a field of the wrong shape: the file, the line and the field', () => {
  it('the valid recording loads', () => {
    const rec = parseRecording(jsonl(validLines()), 'good.jsonl');
    expect(rec.warnings).toEqual([]);
    expect(rec.sessions[0]!.messages.map((m) => m.kind)).toEqual(['text', 'binary', 'close']);
    expect(rec.sessions[0]!.close!.close!.reason).toBe('bye');
  });

  const cases: { name: string; line: number; change: (e: Json) => void; message: string; field: string }[] = [
    {
      name: 'request.headers that is a string',
      line: 2,
      change: (e) => ((e['request'] as Json)['headers'] = 'Host: localhost:8000'),
      message: 'line 2: request.headers must be an array of {name, value}, not "Host: localhost:8000"',
      field: 'request.headers',
    },
    {
      name: 'a header value that is null',
      line: 2,
      change: (e) => (((e['response'] as Json)['headers'] as Json[])[0]!['value'] = null),
      message: 'line 2: response.headers[0].value must be a string, not null',
      field: 'response.headers[0].value',
    },
    {
      name: 'a session id that is a number',
      line: 2,
      change: (e) => (e['session'] = 1),
      message: 'line 2: session must be a string, not 1',
      field: 'session',
    },
    {
      name: 'a finding that is a string',
      line: 2,
      change: (e) => (e['findings'] = ['auth-missing']),
      message: 'line 2: findings[0] must be an object {code, severity, message}, not "auth-missing"',
      field: 'findings[0]',
    },
    {
      name: 'an unknown outcome',
      line: 2,
      change: (e) => (e['outcome'] = 'ok'),
      message: 'line 2: outcome must be "tunnel", "rejected", "failed", "invalid" or "aborted", not "ok"',
      field: 'outcome',
    },
    {
      name: 'a text payload that is an object',
      line: 3,
      change: (e) => (e['text'] = { a: 1 }),
      message: 'line 3: text must be a string, not {"a":1}',
      field: 'text',
    },
    {
      name: 'a base64 payload that is no base64',
      line: 4,
      change: (e) => (e['base64'] = 'AQL/ ?'),
      message: 'line 4: base64 must be base64, not "AQL/ ?"',
      field: 'base64',
    },
    {
      name: 'a size that is not whole',
      line: 4,
      change: (e) => (e['size'] = 1.5),
      message: 'line 4: size must be a whole number, not 1.5',
      field: 'size',
    },
    {
      name: 'a flag that is a string',
      line: 4,
      change: (e) => (e['truncated'] = 'yes'),
      message: 'line 4: truncated must be true or false, not "yes"',
      field: 'truncated',
    },
    {
      name: 'a message close code out of range',
      line: 5,
      change: (e) => (e['closeCode'] = -1),
      message: 'line 5: closeCode must be a number (a close code from 0 to 65535), not -1',
      field: 'closeCode',
    },
    {
      name: 'a close reason that is a number',
      line: 6,
      change: (e) => ((e['close'] as Json)['reason'] = 1000),
      message: 'line 6: close.reason must be a string, not 1000',
      field: 'close.reason',
    },
    {
      name: 'a close initiator that is unknown',
      line: 6,
      change: (e) => ((e['close'] as Json)['initiator'] = 'backend'),
      message: 'line 6: close.initiator must be "client", "server", "none" or "wstap", not "backend"',
      field: 'close.initiator',
    },
    {
      name: 'latency percentiles that are strings',
      line: 6,
      change: (e) => (((e['latency'] as Json)['requests'] as Json)['p99'] = '3 ms'),
      message: 'line 6: latency.requests.p99 must be a number, not "3 ms"',
      field: 'latency.requests.p99',
    },
    {
      name: 'traffic stats that are a list',
      line: 6,
      change: (e) => ((e['messages'] as Json)['server'] = []),
      message: 'line 6: messages.server must be an object, not []',
      field: 'messages.server',
    },
    {
      name: 'a header payloads setting that is unknown',
      line: 1,
      change: (e) => (e['payloads'] = 'some'),
      message: 'line 1: payloads must be "full", "none" or the bytes kept per message, not "some"',
      field: 'payloads',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const lines = validLines();
      c.change(lines[c.line - 1]!);
      const e = loaderError(() => parseRecording(jsonl(lines), 'bad.jsonl'));
      expect(e).toBeInstanceOf(RecordingError);
      expect(e.message).toBe(`bad.jsonl: ${c.message}`);
      expect(e).toMatchObject({ line: c.line, field: c.field });
    });
  }

  it('a time too large for a date (1e999 is Infinity in JSON)', () => {
    const text = jsonl(validLines()).replace('"ts":1736935200000', '"ts":1e999');
    expect(loaderError(() => parseRecording(text, 'bad.jsonl')).message).toBe(
      'bad.jsonl: line 2: ts must be a number (epoch milliseconds), not Infinity',
    );
  });

  it('--skip-invalid skips an invalid line with a count, as it does a line that is not JSON', () => {
    const lines = validLines();
    lines[3]!['base64'] = 42;
    const text = `${jsonl(lines)}{"type":"message",,}\n`;
    const rec = parseRecording(text, 'bad.jsonl', { skipInvalid: true });
    expect(rec.sessions[0]!.messages.map((m) => m.kind)).toEqual(['text', 'close']);
    expect(rec.warnings).toEqual(['1 invalid line was skipped (--skip-invalid)', '1 invalid event was skipped (--skip-invalid)']);
  });

  it('a header line that is no JSON, skipped by --skip-invalid: refused, not loaded without a header', () => {
    const text = `{"type":"header","format":"wstap-recording",,}\n${jsonl(validLines().slice(1))}`;
    expect(loaderError(() => parseRecording(text, 'bad.jsonl', { skipInvalid: true })).message).toBe(
      'bad.jsonl is not a wstap recording: no valid header line before line 2',
    );
  });
});

// --- property: every field of a valid file, as every JSON type ----------------------------

type Path = (string | number)[];
const REMOVE = Symbol('remove');
const INFINITY = '\u0000infinity';
/** What each field becomes: null, numbers, strings, objects, arrays, a boolean, 1e999, or nothing. */
const VALUES: unknown[] = [null, 0, -1, 1.5, INFINITY, '', 'x', 'not base64!', {}, { name: 'a' }, [], [null], ['x'], true, REMOVE];

/** Every path in v: the value itself, and each field and element under it. */
function pathsOf(v: unknown, at: Path = []): Path[] {
  const out: Path[] = [at];
  if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) out.push(...pathsOf(x, [...at, Array.isArray(v) ? Number(k) : k]));
  return out;
}

/** A copy of root with the value at path replaced (or removed). */
function mutated(root: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let o = copy;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (value === REMOVE) {
    if (Array.isArray(o)) o.splice(last as number, 1);
    else delete o[last];
  } else o[last] = value;
  return copy;
}

const asText = (v: unknown): string => (JSON.stringify(v) ?? '').replaceAll(`"${INFINITY}"`, '1e999');

/** What the commands do with a loaded recording: report, export as HAR, the payloads, the replayed handshake. */
function useAsCommandsDo(rec: Recording): void {
  formatReport(reportRecording(rec));
  JSON.stringify(recordingToHar(rec, 'test'));
  for (const s of rec.sessions) {
    replayHandshake(s);
    for (const m of s.messages) payloadOf(m);
  }
}

interface Tried {
  loaded: number;
  refused: number;
  /** Anything else: a load or a use that threw something that is not the loader's error, or an error that does not say where. */
  wrong: string[];
}

function tryAll(texts: Iterable<[string, string]>, load: (text: string) => Recording, source: string): Tried {
  const out: Tried = { loaded: 0, refused: 0, wrong: [] };
  for (const [what, text] of texts) {
    let rec: Recording;
    try {
      rec = load(text);
    } catch (err) {
      const e = err as Error;
      if (!(err instanceof HarError || err instanceof RecordingError)) out.wrong.push(`${what}: ${e.name}: ${e.message}`);
      else if (!e.message.startsWith(source) || e.message.includes('\n'))
        out.wrong.push(`${what}: a message that does not start with the file: ${e.message}`);
      else if (err.field !== undefined && !e.message.includes(err.field))
        out.wrong.push(`${what}: the field ${err.field} is not named: ${e.message}`);
      else out.refused++;
      continue;
    }
    try {
      useAsCommandsDo(rec);
      out.loaded++;
    } catch (err) {
      out.wrong.push(`${what}: loaded, then ${(err as Error).name}: ${(err as Error).message}`);
    }
  }
  return out;
}

function* harMutations(): Generator<[string, string]> {
  const har = validHar();
  const entry = wsEntry(har);
  for (const path of pathsOf(entry))
    for (const v of VALUES) yield [`log.entries[1].${path.join('.')} = ${String(v)}`, asText(mutated(har, ['log', 'entries', 1, ...path], v))];
  for (const path of [[], ['log'], ['log', 'entries'], ['log', 'entries', 0]] as Path[])
    for (const v of VALUES) yield [`${path.join('.')} = ${String(v)}`, asText(mutated(har, path, v))];
}

function* jsonlMutations(): Generator<[string, string]> {
  const lines = validLines();
  for (const [i, line] of lines.entries())
    for (const path of pathsOf(line))
      for (const v of VALUES) {
        const changed = [...lines];
        changed[i] = mutated(line, path, v) as Json;
        yield [`line ${i + 1} ${path.join('.')} = ${String(v)}`, changed.map(asText).join('\n')];
      }
}

describe('every field of a valid file as null, a number, a string, an object, an array, or absent', () => {
  it('HAR: each file loads (and reports, exports, replays its handshake) or is refused by HarError, never a TypeError', () => {
    const r = tryAll(harMutations(), (text) => harToRecording(text, 'mutated.har'), 'mutated.har');
    expect(r.wrong).toEqual([]);
    expect(r.refused).toBeGreaterThan(300);
    expect(r.loaded).toBeGreaterThan(50);
  });

  it('HAR with --skip-invalid: each file loads or is refused by HarError', () => {
    const r = tryAll(harMutations(), (text) => harToRecording(text, 'mutated.har', { skipInvalid: true }), 'mutated.har');
    expect(r.wrong).toEqual([]);
  });

  it('.jsonl: each recording loads (and reports, exports, replays its handshake) or is refused by RecordingError, never a TypeError', () => {
    const r = tryAll(jsonlMutations(), (text) => parseRecording(text, 'mutated.jsonl'), 'mutated.jsonl');
    expect(r.wrong).toEqual([]);
    expect(r.refused).toBeGreaterThan(1000);
    expect(r.loaded).toBeGreaterThan(100);
  });

  it('.jsonl with --skip-invalid: each recording loads or is refused by RecordingError', () => {
    const r = tryAll(jsonlMutations(), (text) => parseRecording(text, 'mutated.jsonl', { skipInvalid: true }), 'mutated.jsonl');
    expect(r.wrong).toEqual([]);
  });

  // The outcome of every mutation, pinned: which load and, for those refused, the message that names the file, the line or
  // entry, and the field. A loader that checks another field, says another thing, or lets another value through changes it.
  const outcomes = (texts: Iterable<[string, string]>, load: (text: string) => Recording): string =>
    [...texts]
      .map(([raw, text]) => {
        // The 1e999 marker holds a NUL: shown as the JSON it stands for.
        const what = raw.replaceAll(INFINITY, '1e999');
        try {
          const rec = load(text);
          return `${what}: loads (${rec.sessions.length} sessions, ${rec.sessions.reduce((n, s) => n + s.messages.length, 0)} messages)`;
        } catch (err) {
          return `${what}: ${(err as Error).message}`;
        }
      })
      .join('\n');

  it('.jsonl: what each mutation does, as it was (the loader\u2019s contract)', async () => {
    await expect(`${outcomes(jsonlMutations(), (text) => parseRecording(text, 'mutated.jsonl'))}\n`).toMatchFileSnapshot(
      './__snapshots__/loader-jsonl-outcomes.txt',
    );
  });

  it('HAR: what each mutation does, as it was (the loader\u2019s contract)', async () => {
    await expect(`${outcomes(harMutations(), (text) => harToRecording(text, 'mutated.har'))}\n`).toMatchFileSnapshot(
      './__snapshots__/loader-har-outcomes.txt',
    );
  });
});
