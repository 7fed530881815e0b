/**
 * The live view's API under /__wstap/api/, on the proxy's own port: the sessions, a session,
 * its messages (paged), the same typed, redacted events the sinks get as Server-Sent Events,
 * and a session as a recording (.jsonl) or a HAR. Everything comes from the history sink,
 * which serves only redacted data. Read-only: nothing here changes traffic.
 */
import type http from 'node:http';
import { recordingToHar } from '../recording/har.js';
import { parseRecording } from '../recording/loader.js';
import { RECORDING_FORMAT, RECORDING_VERSION, type RecordingHeader } from '../recording/format.js';
import type { HistoryEvent, HistoryOptions, MessageFilter, SessionHistory } from '../sinks/history.js';
import { redactDeep } from '../secrets/free-text.js';
import { WSTAP_VERSION } from '../version.js';
import { SAFE_HEADERS, sendJson, type Route } from './routes.js';

export const API_PREFIX = '/__wstap/api/';

function queryOf(req: http.IncomingMessage): URLSearchParams {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}

function intParam(q: URLSearchParams, name: string, fallback: number, max: number): number {
  const v = Number(q.get(name));
  return q.has(name) && Number.isInteger(v) && v >= 0 ? Math.min(v, max) : fallback;
}

/** The session's events as a recording file's text (a header line, then one line per event). */
function recordingText(history: SessionHistory, id: string): string | undefined {
  const events = history.recordingEvents(id);
  if (!events) return undefined;
  const header: RecordingHeader = {
    type: 'header',
    format: RECORDING_FORMAT,
    version: RECORDING_VERSION,
    createdAt: new Date().toISOString(),
    wstap: WSTAP_VERSION,
    payloads: 'full',
  };
  return `${[header, ...events].map((e) => JSON.stringify(e)).join('\n')}\n`;
}

/** /__wstap/api/sessions/<id>[/messages | .har | .jsonl] */
function sessionRoute(history: SessionHistory, req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0]!;
  const m = /^([^/.]+)(?:(\/messages)|\.(har|jsonl))?$/.exec(path.slice(`${API_PREFIX}sessions/`.length));
  if (!m) {
    sendJson(res, 404, { error: `wstap: no such endpoint: ${path}` });
    return;
  }
  const [, id, messages, format] = m as unknown as [string, string, string | undefined, 'har' | 'jsonl' | undefined];
  const found = messages ? messagesOf(history, id, queryOf(req), res) : format ? download(history, id, format, res) : detailOf(history, id, res);
  if (!found) sendJson(res, 404, { error: `wstap: no session ${id} (it may have been evicted: see --ui-history)` });
}

function messagesOf(history: SessionHistory, id: string, q: URLSearchParams, res: http.ServerResponse): boolean {
  const page = history.messages(id, intParam(q, 'after', 0, Number.MAX_SAFE_INTEGER), intParam(q, 'limit', 500, 5000));
  if (page) sendJson(res, 200, page);
  return page !== undefined;
}

function detailOf(history: SessionHistory, id: string, res: http.ServerResponse): boolean {
  const detail = history.detail(id);
  if (detail) sendJson(res, 200, detail);
  return detail !== undefined;
}

function download(history: SessionHistory, id: string, format: 'har' | 'jsonl', res: http.ServerResponse): boolean {
  const text = recordingText(history, id);
  if (text === undefined) return false;
  const body = format === 'jsonl' ? text : `${JSON.stringify(recordingToHar(parseRecording(text, id), WSTAP_VERSION), null, 2)}\n`;
  res.writeHead(200, {
    'Content-Type': format === 'jsonl' ? 'application/x-ndjson; charset=utf-8' : 'application/json; charset=utf-8',
    'Content-Disposition': `attachment; filename="${id}.${format}"`,
    ...SAFE_HEADERS,
  });
  res.end(body);
  return true;
}

/** Bytes an event-stream client may have unread before message events are skipped for it (and counted). */
const STREAM_BACKLOG = 1024 * 1024;
/** Messages are sent in batches: at most this often (a page parses one batch per event, not one event per message)… */
const BATCH_MS = 50;
/** …or when this much is waiting. */
const BATCH_BYTES = 256 * 1024;
/** How often the counts of the sessions with traffic are sent (an `activity` event). */
const ACTIVITY_MS = 1000;

/** ?session=<id> (that session's messages), ?messages=none or all (the default). */
function messageFilter(q: URLSearchParams): MessageFilter {
  const session = q.get('session');
  if (session) return { session };
  return q.get('messages') === 'none' ? 'none' : 'all';
}

/**
 * GET /__wstap/api/events: Server-Sent Events. `session`, `finding`, `end` and `evicted` as they
 * happen; the messages the filter asks for in batches (`messages`: a JSON array of messages, each
 * with its session and seq); `activity` each second with the counts of the sessions that had
 * traffic; `skipped` when this reader fell more than 1 MiB behind and messages were left out
 * for it (never the other events): the paged messages endpoint has them.
 */
function eventStream(history: SessionHistory, req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive', ...SAFE_HEADERS });
  res.write('retry: 2000\n\n');
  let skipped = 0;
  let batch: string[] = [];
  let batchBytes = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    timer = undefined;
    if (skipped) {
      res.write(`event: skipped\ndata: ${JSON.stringify({ messages: skipped })}\n\n`);
      skipped = 0;
    }
    if (!batch.length) return;
    res.write(`event: messages\ndata: [${batch.join(',')}]\n\n`);
    batch = [];
    batchBytes = 0;
  };
  const send = (e: HistoryEvent): void => {
    if (e.type !== 'message') {
      flush();
      res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
      return;
    }
    if (res.writableLength > STREAM_BACKLOG) {
      skipped++;
      return;
    }
    batch.push(e.json);
    batchBytes += e.json.length;
    if (batchBytes >= BATCH_BYTES) flush();
    else timer ??= setTimeout(flush, BATCH_MS);
  };
  const unsubscribe = history.subscribe(send, messageFilter(queryOf(req)));
  let clock = history.activity(Number.MAX_SAFE_INTEGER).clock;
  const activity = setInterval(() => {
    const a = history.activity(clock);
    clock = a.clock;
    if (a.sessions.length) res.write(`event: activity\ndata: ${JSON.stringify(a)}\n\n`);
  }, ACTIVITY_MS);
  activity.unref();
  // A comment now and then keeps intermediaries from closing an idle stream.
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  keepAlive.unref();
  const stop = (): void => {
    clearInterval(keepAlive);
    clearInterval(activity);
    if (timer) clearTimeout(timer);
    unsubscribe();
  };
  req.once('close', stop);
  res.once('close', stop);
}

/** What the page shows about this wstap: its version, its target (redacted) and what the history keeps. */
export interface ProxyInfo {
  version: string;
  target: string;
  history: Required<HistoryOptions>;
}

export function apiRoutes(history: SessionHistory, target: string): Route[] {
  const info: ProxyInfo = redactDeep({ version: WSTAP_VERSION, target, history: history.limits });
  return [
    { method: 'GET', path: `${API_PREFIX}info`, handle: (_req, res) => sendJson(res, 200, info) },
    { method: 'GET', path: `${API_PREFIX}sessions`, handle: (_req, res) => sendJson(res, 200, history.list()) },
    { method: 'GET', path: `${API_PREFIX}sessions/`, prefix: true, handle: (req, res) => sessionRoute(history, req, res) },
    { method: 'GET', path: `${API_PREFIX}events`, handle: (req, res) => eventStream(history, req, res) },
    { method: 'GET', path: `${API_PREFIX}findings`, handle: (_req, res) => sendJson(res, 200, { findings: history.findings() }) },
  ];
}
