/**
 * HAR 1.2 with Chrome's WebSocket extension: `_resourceType: "websocket"`,
 * `_webSocketMessages` ({type: send|receive, time: epoch seconds, opcode: 1|2,
 * data: text, or base64 for binary}) and `_webSocketClose`. Chrome DevTools imports
 * what export writes; replay and serve read what DevTools saves.
 */
import { headerValue } from '../wire/http-head.js';
import {
  RECORDING_FORMAT,
  RECORDING_VERSION,
  payloadOf,
  type MessageEvent,
  type Recording,
  type RecordedHeader,
  type RecordedSession,
  type RecordingHeader,
  type SessionCloseEvent,
} from './format.js';

export interface HarWebSocketMessage {
  type: 'send' | 'receive';
  time: number;
  opcode: number;
  data: string;
}

export interface HarEntry {
  startedDateTime: string;
  time: number;
  request: {
    method: string;
    url: string;
    httpVersion: string;
    headers: RecordedHeader[];
    queryString: { name: string; value: string }[];
    cookies: unknown[];
    headersSize: number;
    bodySize: number;
  };
  response: {
    status: number;
    statusText: string;
    httpVersion: string;
    headers: RecordedHeader[];
    cookies: unknown[];
    content: { size: number; mimeType: string };
    redirectURL: string;
    headersSize: number;
    bodySize: number;
  };
  cache: Record<string, never>;
  timings: { blocked: number; dns: number; connect: number; send: number; wait: number; receive: number; ssl: number };
  _resourceType: 'websocket';
  _webSocketMessages: HarWebSocketMessage[];
  /** Chrome writes code, reason and timestamp; wstap adds who sent the first close frame. */
  _webSocketClose?: { code: number; reason: string; timestamp: number; initiator?: 'client' | 'server' };
}

export interface Har {
  log: { version: '1.2'; creator: { name: string; version: string }; pages: unknown[]; entries: HarEntry[] };
}

/** A HAR that cannot be imported. `entry` and `field` name what is wrong (log.entries[entry], then the field in it). */
export class HarError extends Error {
  override readonly name = 'HarError';
  constructor(
    message: string,
    readonly entry?: number,
    readonly field?: string,
  ) {
    super(message);
  }
}

// --- field checks, shared with the .jsonl loader (loader.ts) ---------------------------

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A value as an error shows it: its JSON, cut at 40 characters (1e999 is Infinity). */
export function shown(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 39)}…` : s;
}

export type FieldKind = 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array';
interface KindValue {
  string: string;
  number: number;
  integer: number;
  boolean: boolean;
  object: Json;
  array: unknown[];
}
const KIND_NAME: Record<FieldKind, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
};

function isKind(v: unknown, kind: FieldKind): boolean {
  switch (kind) {
    case 'object':
      return isObject(v);
    case 'array':
      return Array.isArray(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return Number.isSafeInteger(v);
    default:
      return typeof v === kind;
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Checks on the fields of one entry of a file (a HAR entry, a line of a recording). A wrong
 * field goes to `fail` with its path (request.headers[2].name) and what is wrong with it, in
 * words that show the value found; `fail` adds the file and the entry. `path` defaults to the key.
 */
export class FieldChecks {
  constructor(readonly fail: (field: string, problem: string) => never) {}

  /** o[key], required, of this kind. */
  need<K extends FieldKind>(o: Json, key: string, kind: K, path = key): KindValue[K] {
    const v = o[key];
    if (!isKind(v, kind))
      this.fail(path, v === undefined ? `is missing (${KIND_NAME[kind]} is required)` : `must be ${KIND_NAME[kind]}, not ${shown(v)}`);
    return v as KindValue[K];
  }

  /** o[key] of this kind, or absent (undefined). */
  opt<K extends FieldKind>(o: Json, key: string, kind: K, path = key): KindValue[K] | undefined {
    return o[key] === undefined ? undefined : this.need(o, key, kind, path);
  }

  /** o[key] of this kind; absent or null, it becomes `fallback`. */
  def<K extends FieldKind>(o: Json, key: string, kind: K, fallback: KindValue[K], path = key): KindValue[K] {
    if (o[key] === undefined || o[key] === null) o[key] = fallback;
    return this.need(o, key, kind, path);
  }

  /** o[key], one of `values` (absent or null: `fallback`, when there is one). `says` lists them in the error. */
  oneOf<T extends string>(o: Json, key: string, values: readonly T[], path = key, fallback?: T, says?: string): T {
    if (fallback !== undefined && (o[key] === undefined || o[key] === null)) o[key] = fallback;
    const v = o[key];
    if (!values.includes(v as T)) {
      const quoted = values.map((x) => `"${x}"`);
      const list = says ?? `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`;
      this.fail(path, v === undefined ? `is missing (${list} is required)` : `must be ${list}, not ${shown(v)}`);
    }
    return v as T;
  }

  /**
   * o[key], a number from min to max, a whole one unless `fraction`; `what` says what it is in the
   * error (a close code from 0 to 65535). Absent: `fallback`, or an error.
   */
  within(
    o: Json,
    key: string,
    path: string,
    what: string,
    [min, max]: [number, number],
    opts: { fraction?: boolean; fallback?: number } = {},
  ): number {
    if (opts.fallback !== undefined && (o[key] === undefined || o[key] === null)) o[key] = opts.fallback;
    const v = o[key];
    const ok = typeof v === 'number' && (opts.fraction ? Number.isFinite(v) : Number.isSafeInteger(v)) && v >= min && v <= max;
    if (!ok) this.fail(path, v === undefined ? `is missing (${what} is required)` : `must be a number (${what}), not ${shown(v)}`);
    return v as number;
  }

  /** o[key], a list of {name, value} with strings; absent or null: `fallback`, when there is one. */
  headers(o: Json, key: string, path: string, fallback?: RecordedHeader[]): RecordedHeader[] {
    if (fallback !== undefined && (o[key] === undefined || o[key] === null)) o[key] = fallback;
    const list = o[key];
    if (!Array.isArray(list))
      this.fail(
        path,
        list === undefined ? 'must be an array of {name, value}; it is missing' : `must be an array of {name, value}, not ${shown(list)}`,
      );
    list.forEach((h, i) => {
      if (!isObject(h)) this.fail(`${path}[${i}]`, `must be {name, value} with strings, not ${shown(h)}`);
      this.need(h, 'name', 'string', `${path}[${i}].name`);
      this.need(h, 'value', 'string', `${path}[${i}].value`);
    });
    return list as RecordedHeader[];
  }

  /** o[key], base64 text (the payload of a binary message), or absent. */
  base64(o: Json, key: string, path = key): string | undefined {
    const v = this.opt(o, key, 'string', path);
    if (v !== undefined && !BASE64.test(v)) this.fail(path, `must be base64, not ${shown(v)}`);
    return v;
  }
}

export function looksLikeHar(file: string, text: string): boolean {
  if (file.toLowerCase().endsWith('.har')) return true;
  return /^\s*\{\s*"log"\s*:/.test(text);
}

function urlOf(s: RecordedSession): string {
  const host =
    headerValue(
      s.open.request.headers.map((h) => ({ ...h, start: 0, end: 0 })),
      'host',
    ) ?? 'localhost';
  return `ws://${host}${s.open.request.path}`;
}

/** The query parameters of a recorded request target (as recorded: it may be no valid URL). */
function queryOf(path: string): { name: string; value: string }[] {
  const q = path.indexOf('?');
  return q < 0 ? [] : [...new URLSearchParams(path.slice(q + 1).split('#')[0])].map(([name, value]) => ({ name, value }));
}

/** A recording as HAR: one entry per session that was tunnelled or answered. */
export function recordingToHar(rec: Recording, version: string): Har {
  const entries: HarEntry[] = rec.sessions.map((s) => {
    const start = s.open.ts;
    const url = urlOf(s);
    const messages: HarWebSocketMessage[] = s.messages
      .filter((m) => m.kind === 'text' || m.kind === 'binary')
      .map((m) => ({
        type: m.from === 'client' ? 'send' : 'receive',
        time: (start + m.t) / 1000,
        opcode: m.kind === 'text' ? 1 : 2,
        data: m.kind === 'text' ? (m.text ?? '') : payloadOf(m).toString('base64'),
      }));
    const res = s.open.response;
    const entry: HarEntry = {
      startedDateTime: new Date(start).toISOString(),
      time: s.close?.durationMs ?? s.open.handshakeMs ?? 0,
      request: {
        method: s.open.request.method,
        url,
        httpVersion: `HTTP/${s.open.request.httpVersion}`,
        headers: s.open.request.headers,
        queryString: queryOf(s.open.request.path),
        cookies: [],
        headersSize: -1,
        bodySize: 0,
      },
      response: {
        status: res?.status ?? 0,
        statusText: res?.reason ?? '',
        httpVersion: 'HTTP/1.1',
        headers: res?.headers ?? [],
        cookies: [],
        content: { size: 0, mimeType: 'x-unknown' },
        redirectURL: '',
        headersSize: -1,
        bodySize: -1,
      },
      cache: {},
      timings: { blocked: -1, dns: -1, connect: -1, send: 0, wait: s.open.handshakeMs ?? 0, receive: 0, ssl: -1 },
      _resourceType: 'websocket',
      _webSocketMessages: messages,
    };
    const close = s.close?.close;
    if (close && close.code !== 1006) {
      entry._webSocketClose = { code: close.code, reason: close.reason, timestamp: (start + (s.close?.t ?? 0)) / 1000 };
      if (close.initiator === 'client' || close.initiator === 'server') entry._webSocketClose.initiator = close.initiator;
    }
    return entry;
  });
  return { log: { version: '1.2', creator: { name: 'wstap', version }, pages: [], entries } };
}

export interface HarOptions {
  /** Skip WebSocket entries that cannot be read (counted in a warning) instead of failing on the first one. */
  skipInvalid?: boolean;
}

/**
 * A HAR's WebSocket entries as a recording. Every field read is checked: an error names the
 * file, the entry and the field (x.har: log.entries[3]: request.headers must be an array ...).
 */
export function harToRecording(text: string, source: string, opts: HarOptions = {}): Recording {
  let har: unknown;
  try {
    har = JSON.parse(text);
  } catch (err) {
    throw new HarError(`${source} is not valid JSON: ${(err as Error).message}`);
  }
  const notHar = (why: string): never => {
    throw new HarError(`${source} is not a HAR file: ${why}`);
  };
  if (!isObject(har)) return notHar(`it must be a JSON object {"log": {"entries": [...]}}, not ${shown(har)}`);
  const log = har['log'];
  if (log === undefined) return notHar('no log.entries');
  if (!isObject(log)) return notHar(`log must be an object, not ${shown(log)}`);
  const entries = log['entries'];
  if (entries === undefined) return notHar('no log.entries');
  if (!Array.isArray(entries)) return notHar(`log.entries must be an array, not ${shown(entries)}`);
  const sessions: RecordedSession[] = [];
  let skipped = 0;
  entries.forEach((raw: unknown, i) => {
    try {
      const s = entryToSession(raw, i, source);
      if (s) sessions.push(s);
    } catch (err) {
      if (!(opts.skipInvalid && err instanceof HarError)) throw err;
      skipped++;
    }
  });
  const warnings = skipped ? [`${skipped} invalid WebSocket entr${skipped > 1 ? 'ies were' : 'y was'} skipped (--skip-invalid)`] : [];
  if (sessions.length === 0)
    throw new HarError(
      skipped
        ? `${source} has no valid WebSocket entries: ${warnings[0]}`
        : `${source} has no WebSocket entries (save the HAR from DevTools with the WS filter, or use wstap export)`,
    );
  const header: RecordingHeader = {
    type: 'header',
    format: RECORDING_FORMAT,
    version: RECORDING_VERSION,
    createdAt: '',
    wstap: 'har',
    payloads: 'full',
  };
  return { header, runs: [header], sessions, warnings };
}

/** One HAR entry as a session; undefined for an entry that is not a WebSocket. */
function entryToSession(raw: unknown, i: number, source: string): RecordedSession | undefined {
  const where = `${source}: log.entries[${i}]`;
  if (!isObject(raw)) throw new HarError(`${where} must be an object, not ${shown(raw)}`, i);
  const e = raw;
  const isWebSocket = e['_resourceType'] === 'websocket' || (e['_webSocketMessages'] !== undefined && e['_webSocketMessages'] !== null);
  if (!isWebSocket) return undefined;
  const f = new FieldChecks((field, problem) => {
    throw new HarError(`${where}: ${field} ${problem}`, i, field);
  });
  const request = f.need(e, 'request', 'object');
  const url = f.need(request, 'url', 'string', 'request.url');
  let parsed: URL | undefined;
  try {
    parsed = new URL(url.replace(/^ws/i, 'http'));
  } catch {}
  if (parsed?.protocol !== 'http:' && parsed?.protocol !== 'https:') return f.fail('request.url', `must be a ws:// or wss:// URL, not ${shown(url)}`);
  const method = f.def(request, 'method', 'string', 'GET', 'request.method');
  const headers = f.headers(request, 'headers', 'request.headers', []).filter((h) => !h.name.startsWith(':'));
  const started = f.opt(e, 'startedDateTime', 'string');
  const start = started === undefined ? 0 : Date.parse(started);
  if (Number.isNaN(start)) f.fail('startedDateTime', `must be a date (2025-01-15T10:00:00.000Z), not ${shown(started)}`);
  const id = `har-${i}`;
  const session: RecordedSession = {
    id,
    run: 1,
    open: {
      type: 'open',
      session: id,
      ts: start,
      client: '?',
      request: { method, path: `${parsed.pathname}${parsed.search}`, httpVersion: '1.1', headers },
      outcome: 'tunnel',
      findings: [],
    },
    messages: [],
  };
  const response = f.opt(e, 'response', 'object');
  if (response) {
    const status = f.within(response, 'status', 'response.status', 'an HTTP status from 0 to 999', [0, 999]);
    const resHeaders = f.headers(response, 'headers', 'response.headers', []);
    session.open.response = { status, reason: f.def(response, 'statusText', 'string', '', 'response.statusText'), headers: resHeaders };
    if (status !== 101) session.open.outcome = 'rejected';
    const proto = resHeaders.find((h) => h.name.toLowerCase() === 'sec-websocket-protocol');
    if (proto) session.open.protocol = proto.value;
    const ext = resHeaders.find((h) => h.name.toLowerCase() === 'sec-websocket-extensions');
    if (ext) session.open.extensions = ext.value;
  }
  f.def(e, '_webSocketMessages', 'array', []).forEach((m, j) => {
    const ev = messageOf(m, `_webSocketMessages[${j}]`, id, start, f);
    if (ev) session.messages.push(ev);
  });
  const close = closeOf(e, id, start, f);
  if (close) session.close = close;
  return session;
}

/** A HAR message (text or binary) as a message event; undefined for other opcodes. */
function messageOf(m: unknown, at: string, id: string, start: number, f: FieldChecks): MessageEvent | undefined {
  if (!isObject(m)) return f.fail(at, `must be an object {type, time, opcode, data}, not ${shown(m)}`);
  const opcode = f.need(m, 'opcode', 'integer', `${at}.opcode`);
  if (opcode !== 1 && opcode !== 2) return undefined;
  const type = f.oneOf(m, 'type', ['send', 'receive'], `${at}.type`);
  const time = f.need(m, 'time', 'number', `${at}.time`);
  const data = opcode === 1 ? f.need(m, 'data', 'string', `${at}.data`) : f.base64(m, 'data', `${at}.data`);
  if (data === undefined) return f.fail(`${at}.data`, 'is missing (base64 is required for a binary message)');
  const ev: MessageEvent = {
    type: 'message',
    session: id,
    from: type === 'send' ? 'client' : 'server',
    t: Math.max(0, time * 1000 - start),
    ts: Math.round(time * 1000),
    kind: opcode === 1 ? 'text' : 'binary',
    opcode,
    frames: 1,
    compressed: false,
    size: opcode === 1 ? Buffer.byteLength(data) : Buffer.from(data, 'base64').length,
    wireSize: 0,
  };
  if (opcode === 1) ev.text = data;
  else ev.base64 = data;
  return ev;
}

/** The entry's _webSocketClose as a close event. */
function closeOf(e: Json, id: string, start: number, f: FieldChecks): SessionCloseEvent | undefined {
  const c = f.opt(e, '_webSocketClose', 'object');
  if (!c) return undefined;
  const code = f.within(c, 'code', '_webSocketClose.code', 'a close code from 0 to 65535', [0, 65535]);
  const reason = f.def(c, 'reason', 'string', '', '_webSocketClose.reason');
  const timestamp = f.def(c, 'timestamp', 'number', 0, '_webSocketClose.timestamp');
  const initiator = f.oneOf(c, 'initiator', ['client', 'server'], '_webSocketClose.initiator', 'server');
  const t = Math.max(0, timestamp * 1000 - start);
  return {
    type: 'close',
    session: id,
    t,
    ts: Math.round(timestamp * 1000),
    endedBy: initiator,
    how: 'fin',
    durationMs: t,
    close: { initiator, code, reason, meaning: '', clean: true },
    findings: [],
  };
}
