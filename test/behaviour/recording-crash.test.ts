/**
 * A recording survives its writer (issue 4): the real bin killed with SIGTERM or SIGKILL
 * in the middle of a session that keeps sending; a torn last line; corrupted files, files
 * that are no recording, empty files and files from a newer wstap, each with a clear error.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadRecording, parseRecording, RecordingError } from '../../src/recording/loader.js';
import { demoBackend } from '../support/backends.js';
import { fakeJwt } from '../support/helpers.js';
import {
  closeClient,
  ensureBuilt,
  openClient,
  recordingWhen,
  recordThroughProxy,
  runBin,
  runDeferred,
  startBinProxy,
  tmpFile,
  type Client,
} from '../support/recording.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

/** A client that sends its next message as soon as the previous one is answered, until stopped. */
function keepSending(c: Client): void {
  let n = 0;
  c.ws.on('message', () => {
    if (c.ws.readyState === c.ws.OPEN) c.ws.send(JSON.stringify({ n: ++n, pad: 'z'.repeat(64) }));
  });
  c.ws.send(JSON.stringify({ n, pad: 'z'.repeat(64) }));
}

/** Catches a RecordingError (fails the test when the call does not throw one). */
function recordingError(fn: () => unknown): RecordingError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RecordingError) return err;
    throw err;
  }
  throw new Error('expected a RecordingError');
}

describe('the proxy stopped in the middle of a recording', () => {
  // SIGINT is Ctrl-C in a terminal; SIGTERM is docker stop.
  it.each(['SIGTERM', 'SIGINT'] as const)(
    '%s: the file is complete, the open session gets a close line with note "proxy shutdown", it loads without warnings',
    async (signal) => {
      const backend = await demoBackend();
      const file = tmpFile();
      const { bin, port } = await startBinProxy(['--target', backend.url, '--record', file, '--shutdown-grace', '100']);
      const c = await openClient(`ws://127.0.0.1:${port}/ws?token=${fakeJwt(600)}`);
      keepSending(c);
      await recordingWhen(file, (events) => events.filter((e) => e['type'] === 'message').length >= 20, '20 message lines');
      bin.proc.kill(signal);
      expect(await bin.exited).toEqual({ code: 0, signal: null });
      await c.closed;

      const text = readFileSync(file, 'utf8');
      expect(text.endsWith('\n')).toBe(true);
      const lines = text.trimEnd().split('\n');
      for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
      const rec = loadRecording(file);
      expect(rec.warnings).toEqual([]);
      expect(rec.sessions).toHaveLength(1);
      const s = rec.sessions[0]!;
      expect(s.messages.length).toBeGreaterThanOrEqual(20);
      expect(s.close).toBeDefined();
      expect(s.close).toMatchObject({ type: 'close', note: 'proxy shutdown', how: 'shutdown', endedBy: 'proxy' });
      // The close is the session's last line.
      expect(JSON.parse(lines[lines.length - 1]!)).toMatchObject({ type: 'close', session: s.id, note: 'proxy shutdown' });
      // The log says so too.
      expect(bin.json().some((l) => l['event'] === 'stopped')).toBe(true);
      expect(bin.json().filter((l) => l['event'] === 'recording-stopped')).toEqual([]);
    },
  );

  it('SIGKILL: every complete line is valid JSON; the file loads cleanly or skips a torn last line with a warning', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const { bin, port } = await startBinProxy(['--target', backend.url, '--record', file]);
    const c = await openClient(`ws://127.0.0.1:${port}/ws?token=${fakeJwt(600)}`);
    keepSending(c);
    await recordingWhen(file, (events) => events.filter((e) => e['type'] === 'message').length >= 20, '20 message lines');
    bin.proc.kill('SIGKILL');
    expect((await bin.exited).signal).toBe('SIGKILL');
    await c.closed;

    const text = readFileSync(file, 'utf8');
    const pieces = text.split('\n');
    const complete = pieces.slice(0, -1);
    const tail = pieces[pieces.length - 1]!;
    expect(complete.length).toBeGreaterThanOrEqual(22);
    for (const line of complete) expect(() => JSON.parse(line) as unknown).not.toThrow();
    const rec = loadRecording(file);
    if (tail === '') expect(rec.warnings).toEqual([]);
    else {
      expect(rec.warnings).toHaveLength(1);
      expect(rec.warnings[0]).toMatch(new RegExp(`^line ${pieces.length}: an incomplete last line`));
    }
    expect(rec.sessions).toHaveLength(1);
    expect(rec.sessions[0]!.messages.length).toBeGreaterThanOrEqual(20);
    expect(rec.sessions[0]!.close).toBeUndefined();
  });
});

describe('a torn last line (parseRecording)', () => {
  it('is skipped with a warning wherever the line is cut; the lines before it load', async () => {
    const backend = await demoBackend();
    const { file } = await recordThroughProxy(backend.url, async (wsUrl) => {
      const c = await openClient(wsUrl(`/ws?token=${fakeJwt(600)}`));
      await c.ask('{"a":1}');
      await closeClient(c);
    });
    const text = readFileSync(file, 'utf8');
    const lines = text.trimEnd().split('\n');
    const lastStart = text.trimEnd().lastIndexOf('\n') + 1;
    const lastLine = lines[lines.length - 1]!;
    expect(JSON.parse(lastLine)).toMatchObject({ type: 'close' });
    const whole = parseRecording(text);
    expect(whole.warnings).toEqual([]);

    // Cut right after the previous line: nothing torn.
    const atBoundary = parseRecording(text.slice(0, lastStart));
    expect(atBoundary.warnings).toEqual([]);
    expect(atBoundary.sessions[0]!.close).toBeUndefined();
    // Cut anywhere inside the last line (every position), and just before its newline.
    for (let k = 1; k < lastLine.length; k++) {
      const rec = parseRecording(text.slice(0, lastStart + k), 'cut.jsonl');
      expect(rec.warnings).toEqual([`line ${lines.length}: an incomplete last line (the writer stopped mid-line) was skipped`]);
      expect(rec.sessions).toHaveLength(1);
      expect(rec.sessions[0]!.messages).toEqual(whole.sessions[0]!.messages);
      expect(rec.sessions[0]!.close).toBeUndefined();
    }
    // The whole last line without its newline is complete JSON: it loads, no warning.
    const noNewline = parseRecording(text.trimEnd());
    expect(noNewline.warnings).toEqual([]);
    expect(noNewline.sessions[0]!.close).toBeDefined();
  });

  it('a header line torn by a crash right at the start: a clear error, not a crash', () => {
    const e = recordingError(() => parseRecording('{"type":"header","format":"wstap-rec', 'early.jsonl'));
    expect(e.message).toMatch(/early\.jsonl has no header line/);
  });
});

// --- corrupted and foreign files -----------------------------------------------------

const HEADER = JSON.stringify({
  type: 'header',
  format: 'wstap-recording',
  version: 1,
  createdAt: '2025-01-15T10:00:00.000Z',
  wstap: '0.1.0',
  payloads: 'full',
});
const OPEN = JSON.stringify({
  type: 'open',
  session: 'ws-1',
  ts: 1736935200000,
  client: '127.0.0.1:50000',
  request: { method: 'GET', path: '/ws', httpVersion: '1.1', headers: [{ name: 'Host', value: 'localhost:8000' }] },
  response: { status: 101, reason: 'Switching Protocols', headers: [] },
  outcome: 'tunnel',
  findings: [],
});
const message = (fields: Record<string, unknown>): string =>
  JSON.stringify({
    type: 'message',
    session: 'ws-1',
    from: 'client',
    t: 1,
    ts: 1736935200001,
    kind: 'text',
    opcode: 1,
    frames: 1,
    compressed: false,
    size: 2,
    wireSize: 8,
    text: 'hi',
    ...fields,
  });
const CLOSE = JSON.stringify({ type: 'close', session: 'ws-1', t: 5, ts: 1736935200005, endedBy: 'client', how: 'fin', durationMs: 5, findings: [] });

/** A valid recording with `bad` as line 4 (between two good message lines). */
const withLine4 = (bad: string): string => [HEADER, OPEN, message({}), bad, message({ from: 'server', t: 3 }), CLOSE, ''].join('\n');

describe('a corrupted recording: RecordingError naming the line and the field', () => {
  it('the hand-made recording loads as it is', () => {
    const rec = parseRecording(withLine4(message({ t: 2 })));
    expect(rec.warnings).toEqual([]);
    expect(rec.sessions[0]!.messages.map((m) => m.from)).toEqual(['client', 'client', 'server']);
    expect(rec.sessions[0]!.close).toBeDefined();
  });

  const cases: { name: string; line: string; field: string | undefined; message: RegExp }[] = [
    { name: 'a line that is not JSON', line: '{"type":"message","session":"ws-1",,}', field: undefined, message: /line 4: not valid JSON/ },
    { name: 'a JSON array instead of an event', line: '[1,2,3]', field: 'event', message: /line 4: event must be a JSON object/ },
    {
      name: 'an unknown event type',
      line: message({ type: 'frame' }),
      field: 'type',
      message: /line 4: type must be "open", "message", "close" or "action", not "frame"/,
    },
    { name: 'a bad direction', line: message({ from: 'nobody' }), field: 'from', message: /line 4: from must be "client" or "server", not "nobody"/ },
    { name: 'a missing time', line: message({ t: undefined }), field: 't', message: /line 4: t is missing \(a number is required\)/ },
    { name: 'a time of the wrong type', line: message({ t: 'soon' }), field: 't', message: /line 4: t must be a number, not "soon"/ },
    {
      name: 'an unknown message kind',
      line: message({ kind: 'blob' }),
      field: 'kind',
      message: /line 4: kind must be text, binary, ping, pong or close/,
    },
    { name: 'text and base64 both', line: message({ base64: 'aGk=' }), field: 'text', message: /line 4: text and base64 cannot both be present/ },
    {
      name: 'a message of a session never opened',
      line: message({ session: 'ws-9' }),
      field: 'session',
      message: /line 4: session "ws-9" has no open event before this line/,
    },
    { name: 'a second open of the same session', line: OPEN, field: 'session', message: /line 4: session "ws-1" is opened twice/ },
    {
      name: 'an open without request headers',
      line: JSON.stringify({ type: 'open', session: 'ws-2', ts: 1, request: { path: '/ws' } }),
      field: 'request.headers',
      message: /line 4: request.headers must be an array/,
    },
    {
      name: 'a close with a non-numeric code',
      line: JSON.stringify({ type: 'close', session: 'ws-1', close: { code: 'x' } }),
      field: 'close.code',
      message: /line 4: close.code must be a number/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const e = recordingError(() => parseRecording(withLine4(c.line), 'bad.jsonl'));
      expect(e.line).toBe(4);
      expect(e.field).toBe(c.field);
      expect(e.message).toMatch(c.message);
    });
  }

  it('loadRecording of a file with a bad line in the middle throws the same error', () => {
    const file = tmpFile('bad.jsonl');
    writeFileSync(file, withLine4(message({ from: 'nobody' })));
    const e = recordingError(() => loadRecording(file));
    expect(e).toMatchObject({ line: 4, field: 'from' });
  });

  it('a bad line that is not the last one is an error, never a skipped torn line', () => {
    // Cut inside line 4 and go on: only a cut *last* line is a crash artefact.
    const text = withLine4(message({}).slice(0, 30));
    const e = recordingError(() => parseRecording(text));
    expect(e.line).toBe(4);
    expect(e.message).toMatch(/not valid JSON/);
  });

  it('the CLI exits 2 and prints the line and the field', async () => {
    const file = tmpFile('bad.jsonl');
    writeFileSync(file, withLine4(message({ t: 'soon' })));
    const r = await runBin(['report', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/line 4: t must be a number/);
    expect(r.stdout).toBe('');
  });
});

describe('a file that is no recording', () => {
  it('a JSON Lines file of something else: "is not a wstap recording", naming the file', () => {
    const file = tmpFile('events.jsonl');
    writeFileSync(file, '{"level":30,"msg":"hello"}\n{"level":30,"msg":"world"}\n');
    const e = recordingError(() => loadRecording(file));
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/is not a wstap recording/);
    expect(e).toMatchObject({ line: 1, field: 'format' });
  });

  // Guards the error for a file that is no recording at all: when line 1 is not JSON (a text
  // file, a pretty-printed JSON file whose line 1 is "{"), or a one-line text file without a
  // newline (which could pass for a torn line), the error names the file and says it is no
  // wstap recording (line 1, field 'format'), not a generic "line 1: not valid JSON".
  it('a text file, or a pretty-printed JSON file: "is not a wstap recording", naming the file', () => {
    const texts = ['hello\nworld\n', 'just one line', `${JSON.stringify({ name: 'pkg', version: '1.0.0' }, null, 2)}\n`];
    for (const [i, text] of texts.entries()) {
      const file = tmpFile(`foreign-${i}.txt`);
      writeFileSync(file, text);
      const e = recordingError(() => loadRecording(file));
      expect(e.message).toContain(file);
      expect(e.message).toMatch(/is not a wstap recording/);
    }
  });

  it('a text file is refused (exit 2) by the CLI', async () => {
    const file = tmpFile('notes.txt');
    writeFileSync(file, 'hello\nworld\n');
    const r = await runBin(['report', file]);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('an empty file, or one with only a newline: "is empty"', () => {
    for (const text of ['', '\n']) {
      const file = tmpFile('empty.jsonl');
      writeFileSync(file, text);
      const e = recordingError(() => loadRecording(file));
      expect(e.message).toBe(`${file} is empty`);
    }
  });

  it('a missing file: "no such file"', () => {
    const file = tmpFile('missing.jsonl');
    expect(recordingError(() => loadRecording(file)).message).toBe(`cannot read ${file}: no such file`);
  });

  it('a header and nothing else: a recording with no session', () => {
    const rec = parseRecording(`${HEADER}\n`);
    expect(rec.sessions).toEqual([]);
    expect(rec.warnings).toEqual([]);
    expect(rec.header.version).toBe(1);
  });
});

describe('a recording from a newer wstap', () => {
  it('version 99: a clear error that says to upgrade wstap', () => {
    const file = tmpFile('future.jsonl');
    const header = JSON.stringify({ ...(JSON.parse(HEADER) as object), version: 99 });
    writeFileSync(file, [header, OPEN, message({}), CLOSE, ''].join('\n'));
    const e = recordingError(() => loadRecording(file));
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/version 99/);
    expect(e.message).toMatch(/newer wstap/);
    expect(e.message).toMatch(/reads versions up to 1/);
    expect(e.message).toMatch(/upgrade wstap/);
    expect(e).toMatchObject({ line: 1, field: 'version' });
  });

  it('a version that is no whole number from 1: the version field is named', () => {
    for (const version of [0, 1.5, '1', null]) {
      const header = JSON.stringify({ ...(JSON.parse(HEADER) as object), version });
      const e = recordingError(() => parseRecording(`${header}\n`));
      expect(e).toMatchObject({ line: 1, field: 'version' });
    }
  });

  it('the CLI exits 2 with the upgrade message', async () => {
    const file = tmpFile('future.jsonl');
    writeFileSync(file, `${JSON.stringify({ ...(JSON.parse(HEADER) as object), version: 99 })}\n`);
    const r = await runBin(['replay', file, '--target', 'ws://127.0.0.1:9']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/upgrade wstap/);
  });
});
