/**
 * The loader (src/recording/loader.ts) line by line: the defaults it fills in for the fields a
 * recording may leave out, the error a user reads for each kind of broken line (it names the
 * file, the line and the field), the warnings for a line a crash cut short and for what
 * --skip-invalid skipped, and how runs and sessions are grouped.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadRecording, parseRecording, RecordingError, type ParseOptions } from '../../../src/recording/loader.js';
import { runDeferred } from '../../support/cleanup.js';
import { tmpDir } from '../../support/temp.js';

afterEach(runDeferred);

const H = '{"type":"header","format":"wstap-recording","version":1}';
const O = '{"type":"open","session":"s","ts":0,"request":{"path":"/","headers":[]}}';
const file = (...lines: string[]): string => `${lines.join('\n')}\n`;

/** The error parseRecording throws for `text`: message, line and field. */
function refusal(text: string, opts: ParseOptions = {}): { message: string; line?: number; field?: string } {
  try {
    parseRecording(text, 'f.jsonl', opts);
  } catch (err) {
    expect(err).toBeInstanceOf(RecordingError);
    const e = err as RecordingError;
    return { message: e.message, ...(e.line !== undefined ? { line: e.line } : {}), ...(e.field !== undefined ? { field: e.field } : {}) };
  }
  throw new Error('loaded');
}

/** The sessions of a loaded recording as [key, run, messages, closed], and its warnings. */
function loaded(text: string, opts: ParseOptions = {}) {
  const r = parseRecording(text, 'f.jsonl', opts);
  return { sessions: r.sessions.map((s) => [s.id, s.run, s.messages.length, s.close !== undefined]), warnings: r.warnings };
}

describe('the defaults', () => {
  it('fills in every field a recording may leave out', () => {
    const r = parseRecording(
      file(
        H,
        '{"type":"open","session":"s","ts":0,"request":{"path":"/","headers":[]},"response":{"status":101,"headers":[]}}',
        '{"type":"message","session":"s","from":"client","t":1,"kind":"text","text":"h\u00e9"}',
        '{"type":"message","session":"s","from":"server","t":2,"kind":"binary","base64":"AAEC"}',
        '{"type":"message","session":"s","from":"server","t":2,"kind":"ping","app":{"line":"x","packets":[]}}',
        '{"type":"action","session":"s","kind":"drop"}',
        '{"type":"close","session":"s","close":{"code":1000,"initiator":"client"},"findings":[{"code":"c"}]}',
        '{"type":"pattern","code":"x"}',
      ),
    );
    const header = { type: 'header', format: 'wstap-recording', version: 1, payloads: 'full', createdAt: '', wstap: '?' };
    const base = { session: 's', ts: 0, frames: 1, compressed: false };
    expect(r).toEqual({
      header,
      runs: [header],
      sessions: [
        {
          id: 's',
          run: 1,
          open: {
            type: 'open',
            session: 's',
            ts: 0,
            request: { path: '/', headers: [], method: 'GET', httpVersion: '1.1' },
            response: { status: 101, headers: [], reason: '' },
            client: '?',
            outcome: 'tunnel',
            findings: [],
          },
          messages: [
            { type: 'message', ...base, from: 'client', t: 1, kind: 'text', text: 'h\u00e9', opcode: 1, size: 3, wireSize: 3 },
            { type: 'message', ...base, from: 'server', t: 2, kind: 'binary', base64: 'AAEC', opcode: 2, size: 3, wireSize: 3 },
            { type: 'message', ...base, from: 'server', t: 2, kind: 'ping', app: { line: 'x', packets: [] }, opcode: 9, size: 0, wireSize: 0 },
          ],
          actions: [{ type: 'action', session: 's', kind: 'drop', t: 0, ts: 0, by: '', to: 'both', detail: '' }],
          close: {
            type: 'close',
            session: 's',
            close: { code: 1000, initiator: 'client', reason: '', meaning: '', clean: false },
            findings: [{ code: 'c', severity: 'info', message: '' }],
            t: 0,
            ts: 0,
            durationMs: 0,
            endedBy: 'client',
            how: 'fin',
          },
        },
      ],
      warnings: [],
      patterns: [{ type: 'pattern', code: 'x', severity: 'warn', ts: 0, message: '', hint: '', client: '', sessions: [] }],
    });
  });

  it('has no patterns field without pattern lines, and keeps what the header says of payloads', () => {
    const r = parseRecording(file('{"type":"header","format":"wstap-recording","version":1,"payloads":0}', O));
    expect(r).not.toHaveProperty('patterns');
    expect(r.header.payloads).toBe(0);
    expect(parseRecording(file('{"type":"header","format":"wstap-recording","version":1,"payloads":"none"}')).header.payloads).toBe('none');
  });
});

describe('the errors', () => {
  it.each([
    [
      'an unknown event type',
      file(H, O, '{"type":"nope","session":"s"}'),
      'f.jsonl: line 3: type must be "open", "message", "close" or "action", not "nope"',
      3,
      'type',
    ],
    [
      'text and base64',
      file(H, O, '{"type":"message","session":"s","from":"client","t":1,"kind":"text","text":"a","base64":"AA=="}'),
      'f.jsonl: line 3: text and base64 cannot both be present',
      3,
      'text',
    ],
    [
      'a close code out of range',
      file(H, O, '{"type":"message","session":"s","from":"client","t":1,"kind":"close","closeCode":70000}'),
      'f.jsonl: line 3: closeCode must be a number (a close code from 0 to 65535), not 70000',
      3,
      'closeCode',
    ],
    [
      'app without packets',
      file(H, O, '{"type":"message","session":"s","from":"client","t":1,"kind":"text","app":{"line":"x"}}'),
      'f.jsonl: line 3: app.packets must be an array',
      3,
      'app.packets',
    ],
    [
      'a header of another format',
      file('{"type":"header","format":"other","version":1}'),
      'f.jsonl is not a wstap recording: line 1 must be {"type":"header","format":"wstap-recording",...}',
      1,
      'format',
    ],
    ['no header first', file(O), 'f.jsonl is not a wstap recording: line 1 must be {"type":"header","format":"wstap-recording",...}', 1, 'format'],
    [
      'version 0',
      file('{"type":"header","format":"wstap-recording","version":0}'),
      'f.jsonl: line 1: version must be a whole number from 1, not 0',
      1,
      'version',
    ],
    [
      'version 1.5',
      file('{"type":"header","format":"wstap-recording","version":1.5}'),
      'f.jsonl: line 1: version must be a whole number from 1, not 1.5',
      1,
      'version',
    ],
    [
      'version "1"',
      file('{"type":"header","format":"wstap-recording","version":"1"}'),
      'f.jsonl: line 1: version must be a whole number from 1, not "1"',
      1,
      'version',
    ],
    [
      'a newer version',
      file('{"type":"header","format":"wstap-recording","version":2}'),
      'f.jsonl is a version 2 recording, written by a newer wstap; this wstap reads versions up to 1: upgrade wstap',
      1,
      'version',
    ],
    [
      'payloads -1',
      file('{"type":"header","format":"wstap-recording","version":1,"payloads":-1}'),
      'f.jsonl: line 1: payloads must be "full", "none" or the bytes kept per message, not -1',
      1,
      'payloads',
    ],
    [
      'payloads 1.5',
      file('{"type":"header","format":"wstap-recording","version":1,"payloads":1.5}'),
      'f.jsonl: line 1: payloads must be "full", "none" or the bytes kept per message, not 1.5',
      1,
      'payloads',
    ],
    [
      'payloads "x"',
      file('{"type":"header","format":"wstap-recording","version":1,"payloads":"x"}'),
      'f.jsonl: line 1: payloads must be "full", "none" or the bytes kept per message, not "x"',
      1,
      'payloads',
    ],
    [
      'a header line cut short',
      '{"type":"header","form',
      'f.jsonl has no header line: its first line is incomplete (the writer stopped mid-line)',
      1,
      'format',
    ],
    ['a line that is a list', file(H, '[1]', O), 'f.jsonl: line 2: event must be a JSON object, not [1]', 2, 'event'],
    ['a line that is null', file(H, 'null', O), 'f.jsonl: line 2: event must be a JSON object, not null', 2, 'event'],
    ['a session opened twice', file(H, O, O), 'f.jsonl: line 3: session "s" is opened twice', 3, 'session'],
    [
      'an event before its open',
      file(H, '{"type":"close","session":"z"}'),
      'f.jsonl: line 2: session "z" has no open event before this line',
      2,
      'session',
    ],
  ])('%s', (_name, text, message, line, field) => {
    expect(refusal(text)).toEqual({ message, line, field });
  });

  it('says a file of blank lines is empty', () => {
    expect(refusal('\n  \n')).toEqual({ message: 'f.jsonl is empty' });
    expect(refusal('')).toEqual({ message: 'f.jsonl is empty' });
  });

  it('names a line that is no JSON and the option that skips it', () => {
    const r = refusal(file(H, '{"type":"mess', O));
    expect(r).toMatchObject({ line: 2 });
    expect(r.message).toMatch(/^f\.jsonl: line 2: not valid JSON \(.+\); --skip-invalid skips such lines$/);
    // In the middle of a file without a final newline, and a last line that ends with one: not cut by a crash.
    expect(refusal(`${H}\n{"type":"mess\n${O}`)).toMatchObject({ line: 2, message: expect.stringMatching(/line 2: not valid JSON/) });
    expect(refusal(file(H, O, '{"type":"mess'))).toMatchObject({ line: 3, message: expect.stringMatching(/line 3: not valid JSON/) });
    // A header line that is no JSON, with a line after it.
    expect(refusal(file('{"type":"header"x', O))).toMatchObject({ line: 1, message: expect.stringMatching(/line 1: not valid JSON/) });
    expect(refusal(`{"type":"header"x\n${O}`)).toMatchObject({ line: 1, message: expect.stringMatching(/line 1: not valid JSON/) });
    expect(refusal('{"type":"header"x\n')).toMatchObject({ line: 1, message: expect.stringMatching(/line 1: not valid JSON/) });
  });

  it('names the recording in general when no source is given, and is a RecordingError by name', () => {
    try {
      parseRecording('');
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toBe('the recording is empty');
      expect((err as Error).name).toBe('RecordingError');
    }
  });

  it('checks the optional fields of a message and of a close, naming the field', () => {
    const msg = (extra: string) => file(H, O, `{"type":"message","session":"s","from":"client","t":1,"kind":"text"${extra}}`);
    expect(refusal(msg(',"omitted":"yes"'))).toMatchObject({ line: 3, field: 'omitted' });
    expect(loaded(msg(',"omitted":true,"truncated":false')).sessions).toEqual([['s', 1, 1, false]]);
    expect(refusal(msg(',"app":{"packets":[]}'))).toMatchObject({ line: 3, field: 'app.line' });
    const close = (extra: string) => file(H, O, `{"type":"close","session":"s"${extra}}`);
    expect(refusal(close(',"latency":{"requests":1}'))).toMatchObject({ line: 3, field: 'latency.requests' });
    expect(refusal(close(',"latency":{"pings":1}'))).toMatchObject({ line: 3, field: 'latency.pings' });
    expect(refusal(close(',"latency":{"proxyAddedMs":"x"}'))).toMatchObject({ line: 3, field: 'latency.proxyAddedMs' });
    expect(refusal(close(',"latency":{"withoutCorrelation":"x"}'))).toMatchObject({ line: 3, field: 'latency.withoutCorrelation' });
    expect(loaded(close(',"latency":{"requests":{"p50":1},"pings":{},"proxyAddedMs":{},"withoutCorrelation":2}')).sessions).toEqual([
      ['s', 1, 0, true],
    ]);
  });

  it('takes every severity of a pattern and every side of an action, and names the field of a wrong one', () => {
    for (const severity of ['error', 'warn', 'info'])
      expect(parseRecording(file(H, `{"type":"pattern","code":"x","severity":"${severity}"}`)).patterns?.[0]?.severity).toBe(severity);
    expect(refusal(file(H, '{"type":"pattern","code":"x","severity":"fatal"}'))).toMatchObject({ line: 2, field: 'severity' });
    for (const to of ['client', 'server', 'both'])
      expect(parseRecording(file(H, O, `{"type":"action","session":"s","kind":"drop","to":"${to}"}`)).sessions[0]?.actions?.[0]?.to).toBe(to);
    expect(refusal(file(H, O, '{"type":"action","session":"s","kind":"drop","to":"nobody"}'))).toMatchObject({ line: 3, field: 'to' });
  });

  it('refuses a broken header even with --skip-invalid, and events with no valid header before them', () => {
    expect(refusal(file('{"type":"header","format":"wstap-recording","version":0}', O), { skipInvalid: true })).toMatchObject({ field: 'version' });
    expect(refusal(file('{"type":"header"x', O), { skipInvalid: true })).toEqual({
      message: 'f.jsonl is not a wstap recording: no valid header line before line 2',
      line: 2,
      field: 'format',
    });
    expect(refusal(file('{"type":"header"x'), { skipInvalid: true })).toEqual({
      message: 'f.jsonl is not a wstap recording: it has no valid header line',
      line: 1,
      field: 'format',
    });
  });

  it('loads a recording from a file', () => {
    const dir = tmpDir();
    const f = path.join(dir, 'r.jsonl');
    writeFileSync(f, file(H, O, '{"type":"message","session":"s","from":"client","t":1,"kind":"text","text":"caf\u00e9"}'));
    const r = loadRecording(f);
    expect(r.sessions.map((s) => s.messages.map((m) => m.text))).toEqual([['caf\u00e9']]);
  });

  it('names the file it cannot read, and why', () => {
    const dir = tmpDir();
    expect(() => loadRecording(path.join(dir, 'none.jsonl'))).toThrow(
      new RecordingError(`cannot read ${path.join(dir, 'none.jsonl')}: no such file`),
    );
    const sub = path.join(dir, 'sub');
    mkdirSync(sub);
    expect(() => loadRecording(sub)).toThrow(/^cannot read .*sub: EISDIR: illegal operation on a directory, read$/);
  });
});

describe('lines cut short, skipped lines, runs', () => {
  it('skips an incomplete last line with a warning', () => {
    expect(loaded(`${H}\n${O}\n{"type":"mess`)).toEqual({
      sessions: [['s', 1, 0, false]],
      warnings: ['line 3: an incomplete last line (the writer stopped mid-line) was skipped'],
    });
  });

  it('skips an incomplete line at the end of a run, and keys the next run’s sessions by run', () => {
    expect(loaded(file(H, O, '{"type":"mess', H, O, '{"type":"close","session":"s"}'))).toEqual({
      sessions: [
        ['s', 1, 0, false],
        ['2:s', 2, 0, true],
      ],
      warnings: ['line 3: an incomplete line at the end of a run (the writer stopped mid-line) was skipped'],
    });
  });

  it('counts what --skip-invalid skipped, lines and events apart, one or several', () => {
    expect(loaded(file(H, '{"type":"mess', '[1]', O, '{bad'), { skipInvalid: true }).warnings).toEqual([
      '3 invalid lines were skipped (--skip-invalid)',
    ]);
    expect(loaded(file(H, O, '7'), { skipInvalid: true }).warnings).toEqual(['1 invalid line was skipped (--skip-invalid)']);
    expect(loaded(file(H, O, '{"type":"nope"}', '{"type":"close","session":"z"}', '{"type":"close","session":"s"}'), { skipInvalid: true })).toEqual({
      sessions: [['s', 1, 0, true]],
      warnings: ['2 invalid events were skipped (--skip-invalid)'],
    });
    expect(loaded(file(H, O, '{"type":"nope"}'), { skipInvalid: true }).warnings).toEqual(['1 invalid event was skipped (--skip-invalid)']);
  });

  it('reads around blank lines, and a file without a final newline', () => {
    expect(loaded(['', H, '', O, ''].join('\n'))).toEqual({ sessions: [['s', 1, 0, false]], warnings: [] });
    expect(loaded(['  ', H, ' \t ', O, ''].join('\n'))).toEqual({ sessions: [['s', 1, 0, false]], warnings: [] });
    expect(loaded(`\n${H}\n${O}\n{"type":"mess`)).toEqual({
      sessions: [['s', 1, 0, false]],
      warnings: ['line 4: an incomplete last line (the writer stopped mid-line) was skipped'],
    });
    expect(loaded(`${H}\n${O}`)).toEqual({ sessions: [['s', 1, 0, false]], warnings: [] });
  });
});
