/**
 * Replay as a client: per recorded session, connect to a backend with the recorded
 * handshake, send the client's messages in order (each after the server messages
 * recorded before it have arrived), and compare what comes back with the recording.
 */
import WebSocket from 'ws';
import { payloadOf, type MessageEvent, type Recording, type RecordedSession } from '../recording/format.js';
import { compareMessage, parseIgnore, type IgnoreRule, type MessageDiff } from './compare.js';
import { closeAsRecorded } from './close-code.js';
import { replayHandshake } from './handshake.js';
import { fillText, secretValues, type SecretValues } from './secrets.js';

export interface ReplayOptions {
  /** ws:// or wss:// URL. Its path replaces the recorded one unless it is "/". */
  target: string;
  /** Only these session ids (default: every tunnelled session). */
  sessions?: string[];
  /** --secret: the values the recording redacted, by credential name (a query parameter, a header, a cookie, a subprotocol entry). */
  secrets?: Record<string, string>;
  /** --header: values for headers the recorded session had (a header it did not have is not sent: see addHeaders). */
  headers?: Record<string, string>;
  /** --add-header: headers to send that the recorded session did not have. */
  addHeaders?: Record<string, string>;
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
  /** The target could not be reached (refused, unknown host, no answer to the handshake): nothing was compared. */
  unreachable?: boolean;
  /** Where a redacted value was sent as it was (no --secret for it): the backend saw "[redacted]". */
  redactedSent?: string[];
  /** --header names this session did not have: not sent (--add-header adds a header). */
  unusedHeaders?: string[];
}

export interface ReplayResult {
  /** Why the target could not be reached, when it could not: the replay stopped there. */
  unreachable?: string;
  ok: boolean;
  sessions: SessionReplayResult[];
}

const isData = (m: MessageEvent): boolean => m.kind === 'text' || m.kind === 'binary';

/** The target, with the recorded path and query unless the target names a path of its own. */
export function replayUrl(target: string, recordedPath: string): string {
  const u = new URL(target);
  if (u.pathname === '/' && !u.search) {
    const recorded = new URL(recordedPath, 'http://x');
    u.pathname = recorded.pathname;
    u.search = recorded.search;
  }
  return u.toString();
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
async function sendClientMessages(
  c: ReplayConnection,
  s: RecordedSession,
  opts: ReplayOptions,
  secrets: SecretValues,
  result: SessionReplayResult,
): Promise<void> {
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
    let payload = payloadOf(m);
    if (m.kind === 'text') {
      const text = payload.toString('utf8');
      const filled = fillText(text, secrets);
      for (const what of filled.still) (result.redactedSent ??= []).push(`client message #${result.sent + 1}: ${what}`);
      if (filled.text !== text) payload = Buffer.from(filled.text, 'utf8');
    }
    c.ws.send(payload, { binary: m.kind === 'binary' });
    result.sent++;
  }
}

/** Ends the session as the recording did: waits for the server's close, or closes with the client's code. */
async function closeLikeRecording(c: ReplayConnection, s: RecordedSession): Promise<void> {
  const recorded = s.close?.close;
  if (!c.closed && recorded?.initiator === 'server') await c.until(() => c.closed !== undefined);
  if (!c.closed) {
    const clientCode = recorded?.initiator === 'client' && recorded.code !== 1005 && recorded.code !== 1006 ? recorded.code : 1000;
    closeAsRecorded(c.ws, clientCode, recorded?.initiator === 'client' ? recorded.reason : 'wstap replay done');
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
  const hs = replayHandshake(s, opts);
  if (hs.stillRedacted.length) result.redactedSent = hs.stillRedacted;
  if (hs.unusedHeaders.length) result.unusedHeaders = hs.unusedHeaders;
  let ws: WebSocket;
  try {
    ws = new WebSocket(replayUrl(opts.target, hs.path), hs.protocols, {
      headers: hs.headers,
      perMessageDeflate: /permessage-deflate/i.test(s.open.extensions ?? ''),
      handshakeTimeout: timeoutMs,
    });
  } catch (err) {
    // A handshake the client library refuses to send (a header value with a line break...).
    result.error = `cannot send the recorded handshake: ${(err as Error).message}`;
    result.diffs.push({ session: s.id, index: -1, path: '$', expected: 'a WebSocket connection', actual: result.error });
    return result;
  }
  const c = new ReplayConnection(ws, timeoutMs);
  try {
    await c.opened(s.open.response?.status);
  } catch (err) {
    result.error = (err as Error).message;
    if (isUnreachable(err as NodeJS.ErrnoException)) result.unreachable = true;
    result.diffs.push({ session: s.id, index: -1, path: '$', expected: 'a WebSocket connection', actual: result.error });
    return result;
  }
  await sendClientMessages(c, s, opts, secretValues(opts.secrets), result);
  const expectedCount = s.messages.filter((m) => isData(m) && m.from === 'server').length;
  await c.until(() => c.got.length >= expectedCount || c.closed !== undefined);
  await closeLikeRecording(c, s);
  result.received = c.got.length;
  if (c.closed) result.close = c.closed;
  result.diffs.push(...answerDiffs(c, s, ignore));
  result.ok = result.diffs.length === 0;
  return result;
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPROTO']);

/** A connection error, not an answer: the target refused, does not resolve, or did not answer the handshake. */
function isUnreachable(err: NodeJS.ErrnoException): boolean {
  return (err.code !== undefined && UNREACHABLE_CODES.has(err.code)) || /handshake has timed out/i.test(err.message);
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
  for (const s of chosen) {
    const r = await replaySession(s, opts, ignore);
    sessions.push(r);
    // The target is the same for every session: one that cannot be reached stops the replay.
    if (r.unreachable) return { ok: false, unreachable: `cannot reach ${opts.target}: ${r.error}`, sessions };
  }
  return { ok: sessions.every((s) => s.ok), sessions };
}

/** A readable report of a replay, one block per mismatch. */
export function formatReplay(r: ReplayResult): string {
  const lines: string[] = [];
  for (const s of r.sessions) {
    lines.push(
      `${s.ok ? 'ok  ' : 'FAIL'} ${s.session}: sent ${s.sent}, received ${s.received}${s.close ? `, closed ${s.close.code}${s.close.reason ? ` "${s.close.reason}"` : ''}` : ''}`,
    );
    if (s.redactedSent?.length)
      lines.push(`     sent "[redacted]" where the recording had a secret: ${s.redactedSent.join(', ')}: give the values with --secret NAME=VALUE`);
    for (const h of s.unusedHeaders ?? [])
      lines.push(`     --header ${h} not sent: the recorded session had no ${h} header (--add-header "${h}: ..." adds one)`);
    for (const d of s.diffs) {
      const where = d.index >= 0 ? `server message #${d.index + 1}` : (d.note ?? 'session');
      lines.push(`     ${where} ${d.path}${d.note && d.index >= 0 ? ` (${d.note})` : ''}`);
      lines.push(`       expected: ${JSON.stringify(d.expected)}`);
      lines.push(`       actual:   ${JSON.stringify(d.actual)}`);
    }
  }
  const failed = r.sessions.filter((s) => !s.ok).length;
  lines.push(
    r.unreachable
      ? `${r.unreachable}: nothing compared`
      : r.sessions.length === 0
        ? 'no tunnelled session to replay'
        : failed
          ? `${failed} of ${r.sessions.length} sessions differ`
          : `all ${r.sessions.length} sessions match`,
  );
  return lines.join('\n');
}
