/**
 * Replay as a mock backend: a connection plays one recorded session of its path (consume-once;
 * a path with no recorded session is refused with a 404 that lists the recorded paths). It
 * answers the handshake as recorded (subprotocol, deflate) and plays the server's side in its
 * recorded order: the server messages recorded before the first client message at once, and
 * after each client message that matches the next expected one (JSON ignore rules) those that
 * followed it. The server's close frame keeps its recorded place: a session the backend closed
 * with 1008 right after opening is closed with 1008 right after opening, whether or not the
 * client speaks. An unexpected message is reported with a diff.
 */
import http from 'node:http';
import type net from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { payloadOf, type MessageEvent, type Recording, type RecordedSession } from '../recording/format.js';
import { loadRecording } from '../recording/loader.js';
import { closeAsRecorded } from './close-code.js';
import { compareMessage, parseIgnore, type IgnoreRule, type MessageDiff } from './compare.js';
import { fillText, secretValues, type SecretValues } from './secrets.js';

/** A recording that cannot be served as it is: the CLI says so in one line (exit 2). */
export class ReplayInputError extends Error {
  override readonly name = 'ReplayInputError';
}

export interface ReplayServerOptions {
  port?: number;
  host?: string;
  /** JSON paths ignored when matching client messages. */
  ignore?: string[];
  /** What to do with a client message that does not match: close (1008, default) or ignore it. */
  onUnexpected?: 'close' | 'ignore';
  /** 'causal' (default): answer at once; 'original': keep the recorded gaps between server messages. */
  timing?: 'causal' | 'original';
  /**
   * --secret: the values the recording redacted, by name. A server message plays them in place
   * of "[redacted]"; a client message must carry them where the recording has "[redacted]"
   * (without a value, anything in that place matches).
   */
  secrets?: Record<string, string>;
  /** Called for each unexpected message (the CLI prints it). */
  onReport?: (event: ReplayServerEvent) => void;
}

export interface UnexpectedMessage {
  session: string;
  /** Index of the expected client message in the session. */
  index: number;
  received: string;
  expected?: string;
  diffs: MessageDiff[];
}

export type ReplayServerEvent =
  | { type: 'connection'; session: string; path: string }
  | { type: 'refused'; path: string; recordedPaths: string[] }
  | { type: 'unexpected'; unexpected: UnexpectedMessage }
  /** A server message played with "[redacted]" in it: no --secret for what it names. */
  | { type: 'redacted'; session: string; index: number; still: string[] }
  | { type: 'done'; session: string; matched: number; expected: number };

export interface ReplayServer {
  url: string;
  port: number;
  /** Every unexpected client message so far. */
  unexpected: UnexpectedMessage[];
  /** Client messages matched so far, over all connections. */
  matched(): number;
  close(): Promise<void>;
}

const isData = (m: MessageEvent): boolean => m.kind === 'text' || m.kind === 'binary';

/**
 * What a player plays, in recorded order: the data messages both ways, and the server's close
 * frame where it came when the server closed first (a close frame that answered the client's
 * is the WebSocket library's to send).
 */
function timelineOf(s: RecordedSession): MessageEvent[] {
  const serverClosed = s.close?.close?.initiator === 'server';
  const items = s.messages.filter((m) => isData(m) || (serverClosed && m.kind === 'close' && m.from === 'server'));
  const firstClose = items.findIndex((m) => m.kind === 'close');
  // Nothing the server sent after its close frame is played (and only its first close).
  const upTo = firstClose < 0 ? items : items.filter((m, i) => i <= firstClose || m.from === 'client');
  return upTo.filter((m, i) => m.kind !== 'close' || i === upTo.findIndex((x) => x.kind === 'close'));
}

const pathOnly = (target: string): string => target.split('?')[0]!;

/** The recorded sessions by path: each connection takes the next unused one of its path; when all are used, they are used again. */
class SessionPicker {
  private readonly byPath = new Map<string, RecordedSession[]>();
  private readonly next = new Map<string, number>();

  constructor(sessions: readonly RecordedSession[]) {
    for (const s of sessions) {
      const p = pathOnly(s.open.request.path);
      this.byPath.set(p, [...(this.byPath.get(p) ?? []), s]);
    }
  }

  get paths(): string[] {
    return [...this.byPath.keys()];
  }

  pick(target: string): RecordedSession | undefined {
    const p = pathOnly(target);
    const list = this.byPath.get(p);
    if (!list) return undefined;
    const i = this.next.get(p) ?? 0;
    this.next.set(p, (i + 1) % list.length);
    return list[i];
  }
}

function preview(m: { kind: string; payload: Buffer }): string {
  return m.kind === 'text' ? m.payload.toString('utf8').slice(0, 200) : `${m.payload.length} bytes`;
}

interface PlayerContext {
  timing: ReplayServerOptions['timing'];
  onUnexpected: ReplayServerOptions['onUnexpected'];
  ignore: readonly IgnoreRule[];
  secrets: SecretValues;
  report(e: ReplayServerEvent): void;
  /** Where unexpected client messages are kept (the server's list). */
  unexpected: UnexpectedMessage[];
  onMatch(): void;
}

/** One connection playing one recorded session: the server's messages in order, each run after the client message it answered. */
class SessionPlayer {
  private readonly timeline: MessageEvent[];
  private pos = 0;
  private matched = 0;
  private chain = Promise.resolve();

  constructor(
    private readonly ws: WebSocket,
    private readonly s: RecordedSession,
    private readonly ctx: PlayerContext,
  ) {
    this.timeline = timelineOf(s);
  }

  start(path: string): void {
    this.ctx.report({ type: 'connection', session: this.s.id, path });
    this.ws.on('message', (data: Buffer, isBinary: boolean) => this.received({ kind: isBinary ? 'binary' : 'text', payload: data }));
    this.ws.on('error', () => {});
    this.sendServerRun();
  }

  /** The server messages up to the next client message, in order (with their recorded gaps when timing is original). */
  private sendServerRun(): void {
    const run: MessageEvent[] = [];
    while (this.pos < this.timeline.length && this.timeline[this.pos]!.from === 'server') run.push(this.timeline[this.pos++]!);
    const atEnd = this.pos >= this.timeline.length;
    const ws = this.ws;
    this.chain = this.chain.then(async () => {
      let last = run[0]?.t ?? 0;
      for (const m of run) {
        if (this.ctx.timing === 'original' && m.t > last) await new Promise((r) => setTimeout(r, m.t - last));
        last = m.t;
        if (ws.readyState !== ws.OPEN) return;
        if (m.kind === 'close') {
          this.closeAs(m.closeCode, payloadOf(m).toString('utf8'));
          return;
        }
        ws.send(this.played(m), { binary: m.kind === 'binary' });
      }
      if (atEnd) this.finish();
    });
  }

  private serverSent = 0;

  /** A server message as played: its redacted values filled from --secret (what is left is reported). */
  private played(m: MessageEvent): Buffer {
    const index = this.serverSent++;
    const payload = payloadOf(m);
    if (m.kind !== 'text') return payload;
    const text = payload.toString('utf8');
    const filled = fillText(text, this.ctx.secrets);
    if (filled.still.length) this.ctx.report({ type: 'redacted', session: this.s.id, index, still: filled.still });
    return filled.text === text ? payload : Buffer.from(filled.text, 'utf8');
  }

  /** The recorded server close, at its place; 1006 (no close frame) ends the connection without one. */
  private closeAs(code: number | undefined, reason: string): void {
    this.report();
    if (code === 1006) this.ws.terminate();
    else closeAsRecorded(this.ws, code, reason);
  }

  private reported = false;

  private report(): void {
    if (this.reported) return;
    this.reported = true;
    const expected = this.timeline.filter((m) => m.from === 'client').length;
    this.ctx.report({ type: 'done', session: this.s.id, matched: this.matched, expected });
  }

  /** The end of the timeline: a server close that came without a close frame in the recording (1006) is played now. */
  private finish(): void {
    this.report();
    const c = this.s.close?.close;
    if (c?.initiator === 'server') this.closeAs(c.code, c.reason);
  }

  private received(got: { kind: 'text' | 'binary'; payload: Buffer }): void {
    const next = this.timeline[this.pos];
    if (next?.from !== 'client') {
      this.unexpected({
        session: this.s.id,
        index: this.matched,
        received: preview(got),
        diffs: [{ path: '$', expected: 'no more client messages', actual: preview(got) }],
      });
      return;
    }
    let expected = payloadOf(next);
    if (next.kind === 'text' && this.ctx.secrets.size) expected = Buffer.from(fillText(expected.toString('utf8'), this.ctx.secrets).text, 'utf8');
    const diffs = compareMessage({ kind: next.kind, payload: expected, truncated: next.truncated === true }, got, this.ctx.ignore);
    if (diffs.length) {
      this.unexpected({
        session: this.s.id,
        index: this.matched,
        received: preview(got),
        expected: preview({ kind: next.kind, payload: payloadOf(next) }),
        diffs,
      });
      return;
    }
    this.pos++;
    this.matched++;
    this.ctx.onMatch();
    this.sendServerRun();
  }

  private unexpected(u: UnexpectedMessage): void {
    this.ctx.unexpected.push(u);
    this.ctx.report({ type: 'unexpected', unexpected: u });
    if (this.ctx.onUnexpected !== 'ignore') this.ws.close(1008, 'wstap serve: unexpected message');
  }
}

export async function createReplayServer(recording: Recording | string, opts: ReplayServerOptions = {}): Promise<ReplayServer> {
  const rec = typeof recording === 'string' ? loadRecording(recording) : recording;
  const sessions = rec.sessions.filter((s) => s.open.outcome === 'tunnel');
  if (sessions.length === 0) throw new ReplayInputError('the recording has no tunnelled session to serve');
  if (sessions.some((s) => s.messages.some((m) => m.omitted))) {
    throw new ReplayInputError('the recording has no payloads (recorded with --record-payloads none): there is nothing to serve');
  }
  const ignore = (opts.ignore ?? []).map(parseIgnore);
  const secrets = secretValues(opts.secrets);
  const unexpected: UnexpectedMessage[] = [];
  let matchedTotal = 0;
  const picker = new SessionPicker(sessions);
  const report = (e: ReplayServerEvent): void => opts.onReport?.(e);

  const deflate = sessions.some((s) => /permessage-deflate/i.test(s.open.extensions ?? ''));
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: deflate,
    handleProtocols: (offered: Set<string>, req: http.IncomingMessage) => {
      const s = (req as http.IncomingMessage & { wstapSession?: RecordedSession }).wstapSession;
      const p = s?.open.protocol;
      if (p && offered.has(p)) return p;
      return false;
    },
  });
  const server = http.createServer((_req, res) => {
    res.writeHead(426, { 'Content-Type': 'text/plain' });
    res.end('wstap serve: a WebSocket mock backend; connect with a WebSocket client\n');
  });
  server.on('upgrade', (req: http.IncomingMessage & { wstapSession?: RecordedSession }, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => {});
    const s = picker.pick(req.url ?? '/');
    if (!s) {
      const recordedPaths = picker.paths;
      report({ type: 'refused', path: pathOnly(req.url ?? '/'), recordedPaths });
      const body = `wstap serve: no recorded session for ${pathOnly(req.url ?? '/')} (recorded: ${recordedPaths.join(', ')})\n`;
      socket.end(
        `HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    req.wstapSession = s;
    wss.handleUpgrade(req, socket, head, (ws) => {
      const player = new SessionPlayer(ws, s, {
        timing: opts.timing,
        onUnexpected: opts.onUnexpected,
        ignore,
        secrets,
        report,
        unexpected,
        onMatch: () => void matchedTotal++,
      });
      player.start(req.url ?? '/');
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as net.AddressInfo;
  const host = addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  return {
    url: `ws://${host}:${addr.port}`,
    port: addr.port,
    unexpected,
    matched: () => matchedTotal,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
