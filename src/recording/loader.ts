/**
 * Loads a recording: validates every line (an error names the line and the field),
 * migrates older versions, skips a line a crash cut short (at the end, or at the end of a run)
 * with a warning, and groups events by session. A file holds one run per header line: sessions
 * of the second and later runs are keyed RUN:id (2:ws-1). A .har file is imported (har.ts).
 */
import fs from 'node:fs';
import {
  RECORDING_FORMAT,
  RECORDING_VERSION,
  type ActionEvent,
  type MessageEvent,
  type PatternEvent,
  type Recording,
  type RecordedSession,
  type RecordingEvent,
  type RecordingHeader,
  type SessionCloseEvent,
  type SessionOpenEvent,
} from './format.js';
import { FieldChecks, harToRecording, isObject, looksLikeHar, shown, type Json } from './har.js';

export class RecordingError extends Error {
  override readonly name = 'RecordingError';
  constructor(
    message: string,
    readonly line?: number,
    readonly field?: string,
  ) {
    super(message);
  }
}

/**
 * Migrations from version N to N+1, applied to every event of an older recording.
 * Version 1 is the first; a future version 2 adds `1: (event) => ...` here.
 */
export const MIGRATIONS: Record<number, (event: Json) => Json> = {};

function fail(line: number, field: string, problem: string): never {
  throw new RecordingError(`line ${line}: ${field} ${problem}`, line, field);
}

const checksFor = (line: number): FieldChecks => new FieldChecks((field, problem) => fail(line, field, problem));

const SIDES = ['client', 'server'] as const;
const KINDS = ['text', 'binary', 'ping', 'pong', 'close'] as const;
const OPCODES = { text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;
const OUTCOMES = ['tunnel', 'rejected', 'failed', 'invalid', 'aborted'] as const;
/** Epoch milliseconds a Date can hold (an open's ts becomes a HAR entry's startedDateTime). */
const EPOCH_MS: [number, number] = [-8.64e15, 8.64e15];
const CLOSE_CODES: [number, number] = [0, 65535];

/** Findings: {code, severity, message}; absent, an empty list. */
function checkFindings(e: Json, f: FieldChecks): void {
  for (const [i, x] of f.def(e, 'findings', 'array', []).entries()) {
    const at = `findings[${i}]`;
    if (!isObject(x)) f.fail(at, `must be an object {code, severity, message}, not ${shown(x)}`);
    f.need(x, 'code', 'string', `${at}.code`);
    f.oneOf(x, 'severity', ['error', 'warn', 'info'], `${at}.severity`, 'info');
    f.def(x, 'message', 'string', '', `${at}.message`);
  }
}

function validateOpen(e: Json, f: FieldChecks): SessionOpenEvent {
  f.need(e, 'session', 'string');
  f.within(e, 'ts', 'ts', 'epoch milliseconds', EPOCH_MS, { fraction: true });
  const req = f.need(e, 'request', 'object');
  f.need(req, 'path', 'string', 'request.path');
  f.def(req, 'method', 'string', 'GET', 'request.method');
  f.def(req, 'httpVersion', 'string', '1.1', 'request.httpVersion');
  f.headers(req, 'headers', 'request.headers');
  const res = f.opt(e, 'response', 'object');
  if (res) {
    f.within(res, 'status', 'response.status', 'an HTTP status from 0 to 999', [0, 999]);
    f.def(res, 'reason', 'string', '', 'response.reason');
    f.headers(res, 'headers', 'response.headers');
  }
  f.def(e, 'client', 'string', '?');
  f.oneOf(e, 'outcome', OUTCOMES, 'outcome', 'tunnel');
  f.opt(e, 'protocol', 'string');
  f.opt(e, 'extensions', 'string');
  f.opt(e, 'handshakeMs', 'number');
  checkFindings(e, f);
  return e as unknown as SessionOpenEvent;
}

function validateMessage(e: Json, f: FieldChecks): MessageEvent {
  f.need(e, 'session', 'string');
  f.oneOf(e, 'from', SIDES);
  f.need(e, 't', 'number');
  const kind = f.oneOf(e, 'kind', KINDS, 'kind', undefined, 'text, binary, ping, pong or close');
  const text = f.opt(e, 'text', 'string');
  const base64 = f.base64(e, 'base64');
  if (text !== undefined && base64 !== undefined) f.fail('text', 'and base64 cannot both be present');
  f.def(e, 'ts', 'number', 0);
  f.def(e, 'opcode', 'integer', OPCODES[kind]);
  f.def(e, 'frames', 'integer', 1);
  f.def(e, 'compressed', 'boolean', false);
  f.def(e, 'size', 'integer', text !== undefined ? Buffer.byteLength(text) : base64 !== undefined ? Buffer.from(base64, 'base64').length : 0);
  f.def(e, 'wireSize', 'integer', e['size'] as number);
  f.opt(e, 'truncated', 'boolean');
  f.opt(e, 'omitted', 'boolean');
  if (e['closeCode'] !== undefined) f.within(e, 'closeCode', 'closeCode', 'a close code from 0 to 65535', CLOSE_CODES);
  f.opt(e, 'latencyMs', 'number');
  const app = f.opt(e, 'app', 'object');
  if (app) {
    f.need(app, 'line', 'string', 'app.line');
    if (!Array.isArray(app['packets'])) f.fail('app.packets', 'must be an array');
  }
  return e as unknown as MessageEvent;
}

function checkPercentiles(o: Json, key: string, path: string, f: FieldChecks): void {
  const p = f.opt(o, key, 'object', path);
  if (p) for (const k of ['count', 'p50', 'p95', 'p99', 'max']) f.opt(p, k, 'number', `${path}.${k}`);
}

function validateClose(e: Json, f: FieldChecks): SessionCloseEvent {
  f.need(e, 'session', 'string');
  const close = f.opt(e, 'close', 'object');
  if (close) {
    f.within(close, 'code', 'close.code', 'a close code from 0 to 65535', CLOSE_CODES);
    f.oneOf(close, 'initiator', ['client', 'server', 'none', 'wstap'], 'close.initiator');
    f.def(close, 'reason', 'string', '', 'close.reason');
    f.def(close, 'meaning', 'string', '', 'close.meaning');
    f.def(close, 'clean', 'boolean', false, 'close.clean');
    f.opt(close, 'handshakeMs', 'number', 'close.handshakeMs');
  }
  checkFindings(e, f);
  f.def(e, 't', 'number', 0);
  f.def(e, 'ts', 'number', 0);
  f.def(e, 'durationMs', 'number', 0);
  f.oneOf(e, 'endedBy', ['client', 'server', 'proxy'], 'endedBy', 'client');
  f.oneOf(e, 'how', ['fin', 'reset', 'error', 'shutdown'], 'how', 'fin');
  f.opt(e, 'note', 'string');
  const traffic = f.opt(e, 'messages', 'object');
  if (traffic)
    for (const side of SIDES) {
      const stats = f.need(traffic, side, 'object', `messages.${side}`);
      for (const k of ['messages', 'data', 'control', 'wireBytes', 'payloadBytes']) f.opt(stats, k, 'number', `messages.${side}.${k}`);
      f.opt(stats, 'blind', 'boolean', `messages.${side}.blind`);
    }
  const latency = f.opt(e, 'latency', 'object');
  if (latency) {
    for (const k of ['requests', 'pings', 'proxyAddedMs']) checkPercentiles(latency, k, `latency.${k}`, f);
    f.opt(latency, 'correlation', 'string', 'latency.correlation');
    f.opt(latency, 'inOrder', 'number', 'latency.inOrder');
    f.opt(latency, 'withoutCorrelation', 'number', 'latency.withoutCorrelation');
  }
  return e as unknown as SessionCloseEvent;
}

function validatePattern(e: Json, line: number): PatternEvent {
  const f = checksFor(line);
  f.need(e, 'code', 'string');
  f.oneOf(e, 'severity', ['error', 'warn', 'info'], 'severity', 'warn');
  f.def(e, 'ts', 'number', 0);
  f.def(e, 'message', 'string', '');
  f.def(e, 'hint', 'string', '');
  f.def(e, 'client', 'string', '');
  f.def(e, 'sessions', 'array', []);
  return e as unknown as PatternEvent;
}

function validateAction(e: Json, f: FieldChecks): ActionEvent {
  f.need(e, 'session', 'string');
  f.def(e, 't', 'number', 0);
  f.def(e, 'ts', 'number', 0);
  f.need(e, 'kind', 'string');
  f.def(e, 'by', 'string', '');
  f.oneOf(e, 'to', ['client', 'server', 'both'], 'to', 'both');
  f.def(e, 'detail', 'string', '');
  return e as unknown as ActionEvent;
}

/** Checks every field of an event that wstap reads, fills the defaults; an error names the line and the field. */
function validate(e: Json, line: number): Exclude<RecordingEvent, RecordingHeader | PatternEvent> {
  const f = checksFor(line);
  switch (e['type']) {
    case 'open':
      return validateOpen(e, f);
    case 'message':
      return validateMessage(e, f);
    case 'close':
      return validateClose(e, f);
    case 'action':
      return validateAction(e, f);
    default:
      return fail(line, 'type', `must be "open", "message", "close" or "action", not ${shown(e['type'])}`);
  }
}

function readHeader(e: Json, source: string, line: number): RecordingHeader {
  if (e['type'] !== 'header' || e['format'] !== RECORDING_FORMAT) {
    throw new RecordingError(
      `${source} is not a wstap recording: line ${line} must be {"type":"header","format":"${RECORDING_FORMAT}",...}`,
      line,
      'format',
    );
  }
  if (typeof e['version'] !== 'number' || !Number.isInteger(e['version']) || e['version'] < 1)
    fail(line, 'version', `must be a whole number from 1, not ${shown(e['version'])}`);
  if ((e['version'] as number) > RECORDING_VERSION) {
    throw new RecordingError(
      `${source} is a version ${String(e['version'])} recording, written by a newer wstap; this wstap reads versions up to ${RECORDING_VERSION}: upgrade wstap`,
      line,
      'version',
    );
  }
  const f = checksFor(line);
  const payloads = (e['payloads'] ??= 'full');
  if (payloads !== 'full' && payloads !== 'none' && !(Number.isSafeInteger(payloads) && (payloads as number) >= 0))
    f.fail('payloads', `must be "full", "none" or the bytes kept per message, not ${shown(payloads)}`);
  f.def(e, 'createdAt', 'string', '');
  f.def(e, 'wstap', 'string', '?');
  f.opt(e, 'target', 'string');
  return e as unknown as RecordingHeader;
}

export interface ParseOptions {
  /** Skip lines that are not valid events (counted in a warning) instead of failing on the first one. */
  skipInvalid?: boolean;
}

/** Parses the text of a JSON Lines recording. Errors name the source, the line and the field. */
export function parseRecording(text: string, source = 'the recording', opts: ParseOptions = {}): Recording {
  try {
    return parseLines(text, source, opts);
  } catch (err) {
    if (err instanceof RecordingError && err.line !== undefined && !err.message.startsWith(source)) {
      throw new RecordingError(`${source}: ${err.message}`, err.line, err.field);
    }
    throw err;
  }
}

const isHeaderLine = (raw: string | undefined): boolean => raw?.startsWith('{"type":"header"') === true;

/** The JSON objects of the lines, with their line numbers; a line cut short by a crash is skipped with a warning. */
function readLines(text: string, source: string, warnings: string[], opts: ParseOptions): { e: Json; line: number }[] {
  const lines = text.split('\n');
  const endsClean = text.endsWith('\n');
  if (endsClean) lines.pop();
  if (lines.every((l) => l.trim() === '')) throw new RecordingError(`${source} is empty`);
  const firstLine = lines.findIndex((l) => l.trim() !== '');
  const head = lines[firstLine]!;
  if (!isHeaderLine(head))
    throw new RecordingError(`${source} is not a wstap recording: line 1 must be {"type":"header","format":"${RECORDING_FORMAT}",...}`, 1, 'format');
  const out: { e: Json; line: number }[] = [];
  let skipped = 0;
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let e: unknown;
    try {
      e = JSON.parse(raw);
    } catch (err) {
      if (i === firstLine && i === lines.length - 1 && !endsClean) {
        throw new RecordingError(`${source} has no header line: its first line is incomplete (the writer stopped mid-line)`, 1, 'format');
      }
      // The last line, or the last line of a run that a crash cut short before the next run began.
      if (i === lines.length - 1 && !endsClean) {
        warnings.push(`line ${line}: an incomplete last line (the writer stopped mid-line) was skipped`);
        return;
      }
      if (isHeaderLine(lines[i + 1])) {
        warnings.push(`line ${line}: an incomplete line at the end of a run (the writer stopped mid-line) was skipped`);
        return;
      }
      if (opts.skipInvalid) {
        skipped++;
        return;
      }
      throw new RecordingError(`line ${line}: not valid JSON (${(err as Error).message}); --skip-invalid skips such lines`, line);
    }
    if (typeof e !== 'object' || e === null || Array.isArray(e)) {
      if (opts.skipInvalid) {
        skipped++;
        return;
      }
      fail(line, 'event', `must be a JSON object, not ${shown(e)}`);
    }
    out.push({ e: e as Json, line });
  });
  if (skipped) warnings.push(`${skipped} invalid line${skipped > 1 ? 's were' : ' was'} skipped (--skip-invalid)`);
  return out;
}

/** A session's key in a file of several runs: its id in the first run, RUN:id in later ones. */
const sessionKey = (run: number, id: string): string => (run === 1 ? id : `${run}:${id}`);

function parseLines(text: string, source: string, opts: ParseOptions): Recording {
  const warnings: string[] = [];
  const events = readLines(text, source, warnings, opts);
  const runs: RecordingHeader[] = [];
  const sessions = new Map<string, RecordedSession>();
  const patterns: PatternEvent[] = [];
  let invalid = 0;
  for (const { e: raw, line } of events) {
    if (raw['type'] === 'header') {
      runs.push(readHeader(raw, source, line));
      continue;
    }
    const header = runs[runs.length - 1];
    // Line 1 looked like a header but was none (skipped with --skip-invalid, or not a header once parsed).
    if (!header) throw new RecordingError(`${source} is not a wstap recording: no valid header line before line ${line}`, line, 'format');
    let e = raw;
    for (let v = header.version; v < RECORDING_VERSION; v++) {
      const migrate = MIGRATIONS[v];
      if (!migrate) throw new RecordingError(`${source}: no migration from version ${v} to ${v + 1}`, line, 'version');
      e = migrate(e);
    }
    try {
      if (e['type'] === 'pattern') patterns.push(validatePattern(e, line));
      else addEvent(sessions, runs.length, validate(e, line), line);
    } catch (err) {
      if (!(opts.skipInvalid && err instanceof RecordingError)) throw err;
      invalid++;
    }
  }
  if (invalid) warnings.push(`${invalid} invalid event${invalid > 1 ? 's were' : ' was'} skipped (--skip-invalid)`);
  if (runs.length === 0) throw new RecordingError(`${source} is not a wstap recording: it has no valid header line`, 1, 'format');
  for (const r of runs) r.version = RECORDING_VERSION;
  return { header: runs[0]!, runs, sessions: [...sessions.values()], warnings, ...(patterns.length ? { patterns } : {}) };
}

function addEvent(
  sessions: Map<string, RecordedSession>,
  run: number,
  ev: Exclude<RecordingEvent, RecordingHeader | PatternEvent>,
  line: number,
): void {
  const key = sessionKey(run, ev.session);
  if (ev.type === 'open') {
    if (sessions.has(key)) fail(line, 'session', `${shown(ev.session)} is opened twice`);
    sessions.set(key, { id: key, run, open: ev, messages: [] });
    return;
  }
  const s = sessions.get(key);
  if (!s) fail(line, 'session', `${shown(ev.session)} has no open event before this line`);
  if (ev.type === 'message') s.messages.push(ev);
  else if (ev.type === 'action') (s.actions ??= []).push(ev);
  else s.close = ev;
}

/** Loads a wstap recording (.jsonl) or a HAR file with WebSocket entries (Chrome DevTools, wstap export). */
export function loadRecording(file: string, opts: ParseOptions = {}): Recording {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new RecordingError(`cannot read ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  if (looksLikeHar(file, text)) return harToRecording(text, file, opts);
  return parseRecording(text, file, opts);
}
