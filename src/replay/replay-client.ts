/**
 * Replay as a client: per recorded session, connect to a backend with the recorded
 * handshake, send the client's messages in order (each after the server messages
 * recorded before it have arrived), and compare what comes back with the recording.
 */
import WebSocket from 'ws';
import { payloadOf, type MessageEvent, type Recording, type RecordedSession } from '../recording/format.js';
import { compareMessage, parseIgnore, type IgnoreRule, type MessageDiff } from './compare.js';

export interface ReplayOptions {
  /** ws:// or wss:// URL. Its path replaces the recorded one unless it is "/". */
  target: string;
  /** Only these session ids (default: every tunnelled session). */
  sessions?: string[];
  /** Header values to send instead of the recorded ones (redacted values need one). */
  headers?: Record<string, string>;
  /** JSON paths left out of the comparison, e.g. $.server_ts. */
  ignore?: string[];
  /** 'causal' (default): as fast as the answers come; 'original': keep the recorded gaps too. */
  timing?: 'causal' | 'original';
  /** How long to wait for an expected answer, ms. Default 5000. */
  timeoutMs?: number;
}

export interface ReplayDiff extends MessageDiff {
  session: string;
  /** Index among the server's messages of the session (or -1 for the handshake and close). */
  index: number;
  note?: string;
}

export interface SessionReplayResult {
  session: string;
  ok: boolean;
  sent: number;
  received: number;
  diffs: ReplayDiff[];
  close?: { code: number; reason: string };
  error?: string;
}

export interface ReplayResult {
  ok: boolean;
  sessions: SessionReplayResult[];
}

/** Handshake headers that the WebSocket client sets itself. */
const OWN_HEADERS = new Set(['host', 'connection', 'upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol', 'content-length']);

const isData = (m: MessageEvent): boolean => m.kind === 'text' || m.kind === 'binary';

export function replayHeaders(s: RecordedSession, overrides: Record<string, string> = {}): Record<string, string | string[]> {
  const lower = new Map(Object.entries(overrides).map(([k, v]) => [k.toLowerCase(), v]));
  const out: Record<string, string | string[]> = {};
  for (const h of s.open.request.headers) {
    const k = h.name.toLowerCase();
    if (OWN_HEADERS.has(k) || lower.has(k)) continue;
    const prev = out[h.name];
    out[h.name] = prev === undefined ? h.value : Array.isArray(prev) ? [...prev, h.value] : [prev, h.value];
  }
  for (const [k, v] of Object.entries(overrides)) out[k] = v;
  return out;
}

export function replayUrl(target: string, s: RecordedSession): string {
  const u = new URL(target);
  if (u.pathname === '/' && !u.search) {
    const recorded = new URL(s.open.request.path, 'http://x');
    u.pathname = recorded.pathname;
    u.search = recorded.search;
  }
  return u.toString();
}

function protocolsOf(s: RecordedSession): string[] {
  const h = s.open.request.headers.filter((x) => x.name.toLowerCase() === 'sec-websocket-protocol');
  return h.flatMap((x) => x.value.split(',')).map((p) => p.trim()).filter(Boolean);
}

export async function replaySession(s: RecordedSession, opts: ReplayOptions, ignore: readonly IgnoreRule[]): Promise<SessionReplayResult> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const result: SessionReplayResult = { session: s.id, ok: false, sent: 0, received: 0, diffs: [] };
  const timeline = s.messages.filter(isData);
  const expectedServer = timeline.filter((m) => m.from === 'server');
  const got: { kind: 'text' | 'binary'; payload: Buffer }[] = [];
  const deflate = /permessage-deflate/i.test(s.open.extensions ?? '');
  const protocols = protocolsOf(s);
  const ws = new WebSocket(replayUrl(opts.target, s), protocols, {
    headers: replayHeaders(s, opts.headers),
    perMessageDeflate: deflate,
    handshakeTimeout: timeoutMs,
  });
  let waiter: (() => void) | undefined;
  let closed: { code: number; reason: string } | undefined;
  ws.on('message', (data: Buffer, isBinary) => {
    got.push({ kind: isBinary ? 'binary' : 'text', payload: data });
    waiter?.();
  });
  ws.on('close', (code, reason) => {
    closed = { code, reason: reason.toString() };
    waiter?.();
  });
  const until = (pred: () => boolean): Promise<boolean> =>
    new Promise((resolve) => {
      if (pred()) return resolve(true);
      const timer = setTimeout(() => {
        waiter = undefined;
        resolve(false);
      }, timeoutMs);
      waiter = () => {
        if (!pred()) return;
        clearTimeout(timer);
        waiter = undefined;
        resolve(true);
      };
    });

  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        // ws leaves the refused request open to whoever listens: end it now.
        ws.terminate();
        reject(new Error(`the backend answered the upgrade with ${res.statusCode} (recorded: ${s.open.response?.status ?? '?'})`));
      });
      ws.once('error', reject);
    });
  } catch (err) {
    result.error = (err as Error).message;
    result.diffs.push({ session: s.id, index: -1, path: '$', expected: 'a WebSocket connection', actual: result.error });
    return result;
  }

  const started = performance.now();
  let serverSeen = 0;
  for (const m of timeline) {
    if (m.from === 'server') {
      serverSeen++;
      continue;
    }
    // Causal order: the server messages recorded before this client message come first.
    const needed = serverSeen;
    if (!(await until(() => got.length >= needed || closed !== undefined))) break;
    if (closed) break;
    if (opts.timing === 'original') {
      const wait = m.t - (performance.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    if (m.omitted || m.truncated) {
      result.diffs.push({
        session: s.id,
        index: -1,
        path: '$',
        expected: 'a whole recorded client message',
        actual: m.omitted ? 'the recording has no payloads (--record-payloads none)' : `client message at t=${m.t} ms was recorded cut (--record-payloads, --max-message-size)`,
        note: 'cannot replay',
      });
      break;
    }
    ws.send(payloadOf(m), { binary: m.kind === 'binary' });
    result.sent++;
  }
  await until(() => got.length >= expectedServer.length || closed !== undefined);

  const recordedClose = s.close?.close;
  if (!closed) {
    if (recordedClose && recordedClose.initiator === 'server') {
      await until(() => closed !== undefined);
    }
    if (!closed) {
      const code = recordedClose && recordedClose.initiator === 'client' && recordedClose.code !== 1005 && recordedClose.code !== 1006 ? recordedClose.code : 1000;
      ws.close(code, recordedClose?.initiator === 'client' ? recordedClose.reason : 'wstap replay done');
      await until(() => closed !== undefined);
    }
  }
  if (!closed) ws.terminate();
  result.received = got.length;
  if (closed) result.close = closed;

  // Compare, message by message.
  const n = Math.max(expectedServer.length, got.length);
  for (let i = 0; i < n; i++) {
    const e = expectedServer[i];
    const a = got[i];
    if (!e) {
      result.diffs.push({ session: s.id, index: i, path: '$', expected: 'no message', actual: a!.kind === 'text' ? a!.payload.toString('utf8').slice(0, 200) : `${a!.payload.length} bytes`, note: 'extra message' });
      continue;
    }
    if (!a) {
      result.diffs.push({ session: s.id, index: i, path: '$', expected: e.text ?? `${e.size} bytes`, actual: 'nothing', note: 'missing message' });
      continue;
    }
    const diffs = compareMessage({ kind: e.kind, payload: payloadOf(e), truncated: e.truncated === true }, a, ignore);
    for (const d of diffs) result.diffs.push({ ...d, session: s.id, index: i });
  }
  if (recordedClose && recordedClose.initiator === 'server' && recordedClose.code !== 1006) {
    if (!closed || closed.code !== recordedClose.code) {
      result.diffs.push({ session: s.id, index: -1, path: 'close.code', expected: recordedClose.code, actual: closed?.code ?? 'no close', note: 'close' });
    }
  }
  result.ok = result.diffs.length === 0;
  return result;
}

/** Replays every tunnelled session of a recording (or the chosen ones) against a backend. */
export async function replayRecording(rec: Recording, opts: ReplayOptions): Promise<ReplayResult> {
  const ignore = (opts.ignore ?? []).map(parseIgnore);
  const chosen = rec.sessions.filter((s) => (opts.sessions ? opts.sessions.includes(s.id) : s.open.outcome === 'tunnel'));
  if (opts.sessions) {
    const missing = opts.sessions.filter((id) => !rec.sessions.some((s) => s.id === id));
    if (missing.length) throw new Error(`no session ${missing.join(', ')} in the recording (it has ${rec.sessions.map((s) => s.id).join(', ') || 'none'})`);
  }
  const sessions: SessionReplayResult[] = [];
  for (const s of chosen) sessions.push(await replaySession(s, opts, ignore));
  return { ok: sessions.every((s) => s.ok), sessions };
}

/** A readable report of a replay, one block per mismatch. */
export function formatReplay(r: ReplayResult): string {
  const lines: string[] = [];
  for (const s of r.sessions) {
    lines.push(`${s.ok ? 'ok  ' : 'FAIL'} ${s.session}: sent ${s.sent}, received ${s.received}${s.close ? `, closed ${s.close.code}${s.close.reason ? ` "${s.close.reason}"` : ''}` : ''}`);
    for (const d of s.diffs) {
      const where = d.index >= 0 ? `server message #${d.index + 1}` : d.note ?? 'session';
      lines.push(`     ${where} ${d.path}${d.note && d.index >= 0 ? ` (${d.note})` : ''}`);
      lines.push(`       expected: ${JSON.stringify(d.expected)}`);
      lines.push(`       actual:   ${JSON.stringify(d.actual)}`);
    }
  }
  const failed = r.sessions.filter((s) => !s.ok).length;
  lines.push(r.sessions.length === 0 ? 'no tunnelled session to replay' : failed ? `${failed} of ${r.sessions.length} sessions differ` : `all ${r.sessions.length} sessions match`);
  return lines.join('\n');
}
