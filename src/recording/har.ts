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

export class HarError extends Error {
  override readonly name = 'HarError';
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
        queryString: [...new URL(url.replace(/^ws/, 'http')).searchParams].map(([name, value]) => ({ name, value })),
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

/** A HAR's WebSocket entries as a recording. */
export function harToRecording(text: string, source: string): Recording {
  let har: { log?: { entries?: unknown[] } };
  try {
    har = JSON.parse(text) as typeof har;
  } catch (err) {
    throw new HarError(`${source} is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(har.log?.entries)) throw new HarError(`${source} is not a HAR file: no log.entries`);
  const sessions: RecordedSession[] = [];
  har.log.entries.forEach((raw, i) => {
    const e = raw as Partial<HarEntry> & { _resourceType?: string };
    if (e._resourceType !== 'websocket' && !Array.isArray(e._webSocketMessages)) return;
    if (!e.request || typeof e.request.url !== 'string') throw new HarError(`${source}: entry ${i} has no request.url`);
    const url = new URL(e.request.url.replace(/^ws/, 'http'));
    const start = Date.parse(e.startedDateTime ?? '') || 0;
    const id = `har-${i}`;
    const headers = (e.request.headers ?? []).filter((h) => !h.name.startsWith(':'));
    const session: RecordedSession = {
      id,
      run: 1,
      open: {
        type: 'open',
        session: id,
        ts: start,
        client: '?',
        request: { method: e.request.method ?? 'GET', path: `${url.pathname}${url.search}`, httpVersion: '1.1', headers },
        outcome: (e.response?.status ?? 101) === 101 ? 'tunnel' : 'rejected',
        findings: [],
      },
      messages: [],
    };
    if (e.response) {
      session.open.response = { status: e.response.status, reason: e.response.statusText ?? '', headers: e.response.headers ?? [] };
      const proto = e.response.headers?.find((h) => h.name.toLowerCase() === 'sec-websocket-protocol');
      if (proto) session.open.protocol = proto.value;
      const ext = e.response.headers?.find((h) => h.name.toLowerCase() === 'sec-websocket-extensions');
      if (ext) session.open.extensions = ext.value;
    }
    (e._webSocketMessages ?? []).forEach((m, j) => {
      if (m.opcode !== 1 && m.opcode !== 2) return;
      if (typeof m.data !== 'string' || typeof m.time !== 'number')
        throw new HarError(`${source}: entry ${i}, message ${j}: data and time are required`);
      const t = Math.max(0, m.time * 1000 - start);
      const ev: MessageEvent = {
        type: 'message',
        session: id,
        from: m.type === 'send' ? 'client' : 'server',
        t,
        ts: Math.round(m.time * 1000),
        kind: m.opcode === 1 ? 'text' : 'binary',
        opcode: m.opcode,
        frames: 1,
        compressed: false,
        size: m.opcode === 1 ? Buffer.byteLength(m.data) : Buffer.from(m.data, 'base64').length,
        wireSize: 0,
      };
      if (m.opcode === 1) ev.text = m.data;
      else ev.base64 = m.data;
      session.messages.push(ev);
    });
    const c = e._webSocketClose;
    if (c && typeof c.code === 'number') {
      const t = Math.max(0, (c.timestamp ?? 0) * 1000 - start);
      session.close = {
        type: 'close',
        session: id,
        t,
        ts: Math.round((c.timestamp ?? 0) * 1000),
        endedBy: c.initiator === 'client' ? 'client' : 'server',
        how: 'fin',
        durationMs: t,
        close: { initiator: c.initiator === 'client' ? 'client' : 'server', code: c.code, reason: c.reason ?? '', meaning: '', clean: true },
        findings: [],
      };
    }
    sessions.push(session);
  });
  if (sessions.length === 0)
    throw new HarError(`${source} has no WebSocket entries (save the HAR from DevTools with the WS filter, or use wstap export)`);
  const header: RecordingHeader = {
    type: 'header',
    format: RECORDING_FORMAT,
    version: RECORDING_VERSION,
    createdAt: '',
    wstap: 'har',
    payloads: 'full',
  };
  return { header, runs: [header], sessions, warnings: [] };
}
