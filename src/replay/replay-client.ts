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
const OWN_HEADERS = new Set([
  'host',
  'connection',
  'upgrade',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'content-length',
]);

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
  return h
    .flatMap((x) => x.value.split(','))
    .map((p) => p.trim())
    .filter(Boolean);
}

/** The replaying client's connection: what the backend sent, how it closed, and a bounded wait for either. */
class ReplayConnection {
  readonly got: { kind: 'text' | 'binary'; payload: Buffer }[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiter: (() => void) | undefined;

  constructor(
    readonly ws: WebSocket,
    private readonly timeoutMs: number,
  ) {
    ws.on('message', (data: Buffer, isBinary) => {
      this.got.push({ kind: isBinary ? 'binary' : 'text', payload: data });
      this.waiter?.();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.waiter?.();
    });
  }

  /** Resolves true once pred() holds, false after the timeout. */
  until(pred: () => boolean): Promise<boolean> {
    return new Promise((resolve) => {
      if (pred()) return resolve(true);
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve(false);
      }, this.timeoutMs);
      this.waiter = () => {
        if (!pred()) return;
        clearTimeout(timer);
        this.waiter = undefined;
        resolve(true);
      };
    });
  }

  /** Resolves when the upgrade succeeded; rejects with the backend's status when it refused. */
  opened(recordedStatus: number | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => {
        res.resume();
        // ws leaves the refused request open to whoever listens: end it now.
        this.ws.terminate();
        reject(new Error(`the backend answered the upgrade with ${res.statusCode} (recorded: ${recordedStatus ?? '?'})`));
      });
      this.ws.once('error', reject);
    });
  }
}

/** Sends the client's messages in causal order (each after the server messages recorded before it). */
async function sendClientMessages(c: ReplayConnection, s: RecordedSession, opts: ReplayOptions, result: SessionReplayResult): Promise<void> {
  const started = performance.now();
  let serverSeen = 0;
  for (const m of s.messages.filter(isData)) {
    if (m.from === 'server') {
      serverSeen++;
      continue;
    }
    const needed = serverSeen;
    if (!(await c.until(() => c.got.length >= needed || c.closed !== undefined))) return;
    if (c.closed) return;
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
        actual: m.omitted
          ? 'the recording has no payloads (--record-payloads none)'
          : `client message at t=${m.t} ms was recorded cut (--record-payloads, --max-message-size)`,
        note: 'cannot replay',
      });
      return;
    }
    c.ws.send(payloadOf(m), { binary: m.kind === 'binary' });
    result.sent++;
  }
}

/** Ends the session as the recording did: waits for the server's close, or closes with the client's code. */
async function closeLikeRecording(c: ReplayConnection, s: RecordedSession): Promise<void> {
  const recorded = s.close?.close;
  if (!c.closed && recorded?.initiator === 'server') await c.until(() => c.closed !== undefined);
  if (!c.closed) {
    const clientCode = recorded?.initiator === 'client' && recorded.code !== 1005 && recorded.code !== 1006 ? recorded.code : 1000;
    c.ws.close(clientCode, recorded?.initiator === 'client' ? recorded.reason : 'wstap replay done');
    await c.until(() => c.closed !== undefined);
  }
  if (!c.closed) c.ws.terminate();
}

/** The differences between what the server sent now and what it sent in the recording, the close included. */
function answerDiffs(c: ReplayConnection, s: RecordedSession, ignore: readonly IgnoreRule[]): ReplayDiff[] {
  const out: ReplayDiff[] = [];
  const expected = s.messages.filter((m) => isData(m) && m.from === 'server');
  const n = Math.max(expected.length, c.got.length);
  for (let i = 0; i < n; i++) {
    const e = expected[i];
    const a = c.got[i];
    if (!e) {
      const actual = a!.kind === 'text' ? a!.payload.toString('utf8').slice(0, 200) : `${a!.payload.length} bytes`;
      out.push({ session: s.id, index: i, path: '$', expected: 'no message', actual, note: 'extra message' });
    } else if (!a) {
      out.push({ session: s.id, index: i, path: '$', expected: e.text ?? `${e.size} bytes`, actual: 'nothing', note: 'missing message' });
    } else {
      for (const d of compareMessage({ kind: e.kind, payload: payloadOf(e), truncated: e.truncated === true }, a, ignore))
        out.push({ ...d, session: s.id, index: i });
    }
  }
  const recorded = s.close?.close;
  if (recorded?.initiator === 'server' && recorded.code !== 1006 && c.closed?.code !== recorded.code) {
    out.push({ session: s.id, index: -1, path: 'close.code', expected: recorded.code, actual: c.closed?.code ?? 'no close', note: 'close' });
  }
  return out;
}

export async function replaySession(s: RecordedSession, opts: ReplayOptions, ignore: readonly IgnoreRule[]): Promise<SessionReplayResult> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const result: SessionReplayResult = { session: s.id, ok: false, sent: 0, received: 0, diffs: [] };
  const ws = new WebSocket(replayUrl(opts.target, s), protocolsOf(s), {
    headers: replayHeaders(s, opts.headers),
    perMessageDeflate: /permessage-deflate/i.test(s.open.extensions ?? ''),
    handshakeTimeout: timeoutMs,
  });
  const c = new ReplayConnection(ws, timeoutMs);
  try {
    await c.opened(s.open.response?.status);
  } catch (err) {
    result.error = (err as Error).message;
    result.diffs.push({ session: s.id, index: -1, path: '$', expected: 'a WebSocket connection', actual: result.error });
    return result;
  }
  await sendClientMessages(c, s, opts, result);
  const expectedCount = s.messages.filter((m) => isData(m) && m.from === 'server').length;
  await c.until(() => c.got.length >= expectedCount || c.closed !== undefined);
  await closeLikeRecording(c, s);
  result.received = c.got.length;
  if (c.closed) result.close = c.closed;
  result.diffs.push(...answerDiffs(c, s, ignore));
  result.ok = result.diffs.length === 0;
  return result;
}

/** Replays every tunnelled session of a recording (or the chosen ones) against a backend. */
export async function replayRecording(rec: Recording, opts: ReplayOptions): Promise<ReplayResult> {
  const ignore = (opts.ignore ?? []).map(parseIgnore);
  const chosen = rec.sessions.filter((s) => (opts.sessions ? opts.sessions.includes(s.id) : s.open.outcome === 'tunnel'));
  if (opts.sessions) {
    const missing = opts.sessions.filter((id) => !rec.sessions.some((s) => s.id === id));
    if (missing.length)
      throw new Error(`no session ${missing.join(', ')} in the recording (it has ${rec.sessions.map((s) => s.id).join(', ') || 'none'})`);
  }
  const sessions: SessionReplayResult[] = [];
  for (const s of chosen) sessions.push(await replaySession(s, opts, ignore));
  return { ok: sessions.every((s) => s.ok), sessions };
}

/** A readable report of a replay, one block per mismatch. */
export function formatReplay(r: ReplayResult): string {
  const lines: string[] = [];
  for (const s of r.sessions) {
    lines.push(
      `${s.ok ? 'ok  ' : 'FAIL'} ${s.session}: sent ${s.sent}, received ${s.received}${s.close ? `, closed ${s.close.code}${s.close.reason ? ` "${s.close.reason}"` : ''}` : ''}`,
    );
    for (const d of s.diffs) {
      const where = d.index >= 0 ? `server message #${d.index + 1}` : (d.note ?? 'session');
      lines.push(`     ${where} ${d.path}${d.note && d.index >= 0 ? ` (${d.note})` : ''}`);
      lines.push(`       expected: ${JSON.stringify(d.expected)}`);
      lines.push(`       actual:   ${JSON.stringify(d.actual)}`);
    }
  }
  const failed = r.sessions.filter((s) => !s.ok).length;
  lines.push(
    r.sessions.length === 0
      ? 'no tunnelled session to replay'
      : failed
        ? `${failed} of ${r.sessions.length} sessions differ`
        : `all ${r.sessions.length} sessions match`,
  );
  return lines.join('\n');
}
