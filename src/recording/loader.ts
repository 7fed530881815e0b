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
  type MessageEvent,
  type Recording,
  type RecordedSession,
  type RecordingEvent,
  type RecordingHeader,
  type SessionCloseEvent,
  type SessionOpenEvent,
} from './format.js';
import { harToRecording, looksLikeHar } from './har.js';

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

type Json = Record<string, unknown>;

/**
 * Migrations from version N to N+1, applied to every event of an older recording.
 * Version 1 is the first; a future version 2 adds `1: (event) => ...` here.
 */
export const MIGRATIONS: Record<number, (event: Json) => Json> = {};

function fail(line: number, field: string, problem: string): never {
  throw new RecordingError(`line ${line}: ${field} ${problem}`, line, field);
}

function need(e: Json, line: number, field: string, type: 'string' | 'number' | 'boolean' | 'object' | 'array'): void {
  const v = e[field];
  const ok = type === 'array' ? Array.isArray(v) : type === 'object' ? typeof v === 'object' && v !== null && !Array.isArray(v) : typeof v === type;
  if (!ok) fail(line, field, v === undefined ? `is missing (a ${type} is required)` : `must be a ${type}, not ${JSON.stringify(v)?.slice(0, 40)}`);
}

function optional(e: Json, line: number, field: string, type: 'string' | 'number' | 'object'): void {
  if (e[field] !== undefined) need(e, line, field, type);
}

function checkHeaders(list: unknown, line: number, field: string): void {
  if (!Array.isArray(list)) fail(line, field, 'must be an array of {name, value}');
  list.forEach((h, i) => {
    if (typeof h !== 'object' || h === null || typeof (h as Json)['name'] !== 'string' || typeof (h as Json)['value'] !== 'string') {
      fail(line, `${field}[${i}]`, 'must be {name, value} with strings');
    }
  });
}

const SIDES = new Set(['client', 'server']);
const KINDS = new Set(['text', 'binary', 'ping', 'pong', 'close']);

function validate(e: Json, line: number): Exclude<RecordingEvent, RecordingHeader> {
  switch (e['type']) {
    case 'open': {
      need(e, line, 'session', 'string');
      need(e, line, 'ts', 'number');
      need(e, line, 'request', 'object');
      const req = e['request'] as Json;
      if (typeof req['path'] !== 'string') fail(line, 'request.path', 'is missing (a string is required)');
      checkHeaders(req['headers'], line, 'request.headers');
      if (e['response'] !== undefined) {
        need(e, line, 'response', 'object');
        const res = e['response'] as Json;
        if (typeof res['status'] !== 'number') fail(line, 'response.status', 'must be a number');
        checkHeaders(res['headers'], line, 'response.headers');
      }
      optional(e, line, 'protocol', 'string');
      optional(e, line, 'extensions', 'string');
      if (e['findings'] === undefined) e['findings'] = [];
      need(e, line, 'findings', 'array');
      e['outcome'] ??= 'tunnel';
      e['client'] ??= '?';
      return e as unknown as SessionOpenEvent;
    }
    case 'message': {
      need(e, line, 'session', 'string');
      if (!SIDES.has(e['from'] as string)) fail(line, 'from', `must be "client" or "server", not ${JSON.stringify(e['from'])}`);
      need(e, line, 't', 'number');
      if (!KINDS.has(e['kind'] as string)) fail(line, 'kind', `must be text, binary, ping, pong or close, not ${JSON.stringify(e['kind'])}`);
      optional(e, line, 'text', 'string');
      optional(e, line, 'base64', 'string');
      if (e['text'] !== undefined && e['base64'] !== undefined) fail(line, 'text', 'and base64 cannot both be present');
      e['ts'] ??= 0;
      e['opcode'] ??= { text: 1, binary: 2, close: 8, ping: 9, pong: 10 }[e['kind'] as string];
      e['frames'] ??= 1;
      e['compressed'] ??= false;
      e['size'] ??=
        e['text'] !== undefined
          ? Buffer.byteLength(e['text'] as string)
          : e['base64'] !== undefined
            ? Buffer.from(e['base64'] as string, 'base64').length
            : 0;
      e['wireSize'] ??= e['size'];
      return e as unknown as MessageEvent;
    }
    case 'close': {
      need(e, line, 'session', 'string');
      optional(e, line, 'close', 'object');
      if (e['close'] !== undefined && typeof (e['close'] as Json)['code'] !== 'number') fail(line, 'close.code', 'must be a number');
      e['findings'] ??= [];
      e['t'] ??= 0;
      e['ts'] ??= 0;
      e['durationMs'] ??= 0;
      e['endedBy'] ??= 'client';
      e['how'] ??= 'fin';
      return e as unknown as SessionCloseEvent;
    }
    default:
      return fail(line, 'type', `must be "open", "message" or "close", not ${JSON.stringify(e['type'])}`);
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
  if (typeof e['version'] !== 'number' || !Number.isInteger(e['version']) || e['version'] < 1) fail(line, 'version', 'must be a whole number from 1');
  if ((e['version'] as number) > RECORDING_VERSION) {
    throw new RecordingError(
      `${source} is a version ${String(e['version'])} recording, written by a newer wstap; this wstap reads versions up to ${RECORDING_VERSION}: upgrade wstap`,
      line,
      'version',
    );
  }
  e['payloads'] ??= 'full';
  e['createdAt'] ??= '';
  e['wstap'] ??= '?';
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
  if (lines.length === 0 || (lines.length === 1 && lines[0]!.trim() === '')) throw new RecordingError(`${source} is empty`);
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
      fail(line, 'event', 'must be a JSON object');
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
  let invalid = 0;
  for (const { e: raw, line } of events) {
    if (raw['type'] === 'header') {
      runs.push(readHeader(raw, source, line));
      continue;
    }
    const header = runs[runs.length - 1]!;
    let e = raw;
    for (let v = header.version; v < RECORDING_VERSION; v++) {
      const migrate = MIGRATIONS[v];
      if (!migrate) throw new RecordingError(`${source}: no migration from version ${v} to ${v + 1}`, line, 'version');
      e = migrate(e);
    }
    try {
      addEvent(sessions, runs.length, validate(e, line), line);
    } catch (err) {
      if (!(opts.skipInvalid && err instanceof RecordingError)) throw err;
      invalid++;
    }
  }
  if (invalid) warnings.push(`${invalid} invalid event${invalid > 1 ? 's were' : ' was'} skipped (--skip-invalid)`);
  for (const r of runs) r.version = RECORDING_VERSION;
  return { header: runs[0]!, runs, sessions: [...sessions.values()], warnings };
}

function addEvent(sessions: Map<string, RecordedSession>, run: number, ev: Exclude<RecordingEvent, RecordingHeader>, line: number): void {
  const key = sessionKey(run, ev.session);
  if (ev.type === 'open') {
    if (sessions.has(key)) fail(line, 'session', `"${ev.session}" is opened twice`);
    sessions.set(key, { id: key, run, open: ev, messages: [] });
    return;
  }
  const s = sessions.get(key);
  if (!s) fail(line, 'session', `"${ev.session}" has no open event before this line`);
  if (ev.type === 'message') s.messages.push(ev);
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
  if (looksLikeHar(file, text)) return harToRecording(text, file);
  return parseRecording(text, file, opts);
}
