/**
 * A WebSocket client for `wstap check`, on a raw socket, so that the check sees what
 * the proxy sees: the request head is written as built (several Origin lines stay
 * several lines), the answer is parsed by wstap's own head parser and judged by the
 * proxy's inspectors, and an answer that is not a valid 101 is reported, never used.
 * After a valid 101 the server's frames are read by wstap's frame decoder.
 */
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { FrameDecoder } from '../tap/frame-decoder.js';
import type { ProtocolViolation, WsMessage } from '../session/message.js';
import type { CloseSummary } from '../session/summary.js';
import { negotiatedDeflate } from '../wire/extensions.js';
import { closeCodeMeaning, closePayload, encodeFrame } from '../wire/ws-frame.js';
import type { Finding } from '../session/finding.js';
import { readHandshake } from '../upgrade/handshake.js';
import { headEnd, headerValue, parseRequestHead, parseResponseHead, type ResponseHead } from '../wire/http-head.js';
import { answerOf } from '../upgrade/handshake.js';
import { acceptProblems, inspectAnswer, inspectUpstreamFailure } from '../inspect/registry.js';
import type { Handshake, UpstreamAnswer, UpstreamFailure } from '../session/session.js';
import type { Target } from '../wire/target.js';
import { dechunk } from '../upgrade/rejection.js';
import { connectUpstream, failureOf, UpstreamTimeout } from '../upgrade/upstream.js';

export interface HandshakeRequest {
  target: Target;
  /** Path and query, e.g. "/ws?room=1". */
  path: string;
  /** One Origin line each, in order (none: no Origin header). */
  origins: readonly string[];
  /** Extra header lines, verbatim, after the standard ones. */
  headers: readonly (readonly [string, string])[];
  subprotocols: readonly string[];
  insecure: boolean;
  /** For the connection and for the answer, each. */
  timeoutMs: number;
}

export type HandshakeOutcome =
  | {
      kind: 'failed';
      handshake: Handshake;
      failure: UpstreamFailure;
      phase: 'connect' | 'answer';
      /** upstream-* */
      findings: Finding[];
      ms: number;
    }
  | {
      kind: 'answered';
      handshake: Handshake;
      answer: UpstreamAnswer;
      /** upgrade-rejected or upgrade-accept-invalid; none for a valid 101. */
      findings: Finding[];
      ms: number;
      /** The open WebSocket, for a valid 101. */
      socket?: CheckSocket;
    };

const MAX_HEAD = 64 * 1024;
const BODY_EXCERPT = 1024;
/** What browsers offer. */
const DEFLATE_OFFER = 'permessage-deflate; client_max_window_bits';

export const roundMs = (ms: number): number => Math.round(ms * 100) / 100;

function hostHeader(target: Target): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  const defaultPort = target.secure ? 443 : 80;
  return target.port === defaultPort ? host : `${host}:${target.port}`;
}

/** The upgrade request a browser would send, with the given Origins, subprotocols and extra headers. */
export function buildRequestHead(req: HandshakeRequest, key: string): Buffer {
  const extra = req.headers.map(([n]) => n.toLowerCase());
  const lines = [`GET ${req.path || '/'} HTTP/1.1`];
  if (!extra.includes('host')) lines.push(`Host: ${hostHeader(req.target)}`);
  lines.push('Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${key}`);
  for (const o of req.origins) lines.push(`Origin: ${o}`);
  if (req.subprotocols.length) lines.push(`Sec-WebSocket-Protocol: ${req.subprotocols.join(', ')}`);
  if (!extra.includes('sec-websocket-extensions')) lines.push(`Sec-WebSocket-Extensions: ${DEFLATE_OFFER}`);
  lines.push('User-Agent: wstap-check');
  for (const [n, v] of req.headers) lines.push(`${n}: ${v}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/** Connects, sends the upgrade and reads the answer (and a rejection's body, for its reason). */
export function openWebSocket(req: HandshakeRequest): Promise<HandshakeOutcome> {
  const raw = buildRequestHead(req, randomBytes(16).toString('base64'));
  const handshake = readHandshake(parseRequestHead(raw), 'wire', Date.now());
  const started = performance.now();
  return new Promise((resolve) => {
    const { socket, readyEvent } = connectUpstream(req.target, { insecure: req.insecure });
    let phase: 'connect' | 'answer' = 'connect';
    let sentAt = 0;
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (outcome: HandshakeOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      resolve(outcome);
    };
    const fail = (err: unknown): void => {
      if (done) return;
      socket.destroy();
      const failure = failureOf(err);
      finish({
        kind: 'failed',
        handshake,
        failure,
        phase,
        findings: [inspectUpstreamFailure(req.target, failure, phase, 'check')],
        ms: roundMs(performance.now() - started),
      });
    };
    const timer = setTimeout(() => fail(new UpstreamTimeout(phase, req.timeoutMs)), req.timeoutMs);
    const onEnd = (): void => fail({ code: 'EUPSTREAMEND', message: 'the backend closed the connection without answering' });
    const onClose = (): void => fail({ code: 'ECONNRESET', message: 'the connection closed before an answer' });
    socket.on('error', fail);
    socket.once('end', onEnd);
    socket.once('close', onClose);
    socket.once(readyEvent, () => {
      phase = 'answer';
      sentAt = performance.now();
      socket.write(raw);
    });
    const onData = (chunk: Buffer): void => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const end = headEnd(buf);
      if (end < 0) {
        if (buf.length > MAX_HEAD) fail({ code: 'EBADRESPONSE', message: `no end of the answer's head within ${MAX_HEAD} bytes` });
        return;
      }
      let response: ResponseHead;
      try {
        response = parseResponseHead(Buffer.from(buf.subarray(0, end)));
      } catch (err) {
        fail({ code: 'EBADRESPONSE', message: `a malformed answer: ${(err as Error).message}` });
        return;
      }
      let answer = answerOf(response, roundMs(performance.now() - sentAt));
      const rest = buf.subarray(end);
      const ms = roundMs(performance.now() - started);
      socket.off('end', onEnd);
      socket.off('close', onClose);
      socket.on('error', () => {});
      socket.off('error', fail);
      if (response.status === 101 && acceptProblems(handshake, answer).length === 0) {
        const socketOf = new CheckSocket(socket, rest, negotiatedDeflate(response.headers) !== undefined);
        finish({ kind: 'answered', handshake, answer, findings: inspectAnswer(handshake, answer), ms, socket: socketOf });
        return;
      }
      if (response.status === 101) {
        socket.destroy();
        finish({ kind: 'answered', handshake, answer, findings: inspectAnswer(handshake, answer), ms });
        return;
      }
      clearTimeout(timer);
      socket.off('data', onData);
      void readBody(socket, rest, response.headers, Math.min(req.timeoutMs, 2000)).then((body) => {
        if (body) answer = { ...answer, bodyExcerpt: body };
        finish({ kind: 'answered', handshake, answer, findings: inspectAnswer(handshake, answer), ms });
      });
    };
    socket.on('data', onData);
  });
}

/** The first BODY_EXCERPT bytes of a rejection's body, as text; the socket is destroyed afterwards. */
function readBody(socket: net.Socket, rest: Buffer, headers: Parameters<typeof headerValue>[0], limitMs: number): Promise<string> {
  const length = Number(headerValue(headers, 'content-length') ?? NaN);
  const chunked = /chunked/i.test(headerValue(headers, 'transfer-encoding') ?? '');
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let got = 0;
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      const body = Buffer.concat(parts).subarray(0, BODY_EXCERPT * 4);
      resolve((chunked ? dechunk(body) : body).subarray(0, BODY_EXCERPT).toString('utf8'));
    };
    const onChunk = (c: Buffer): void => {
      parts.push(c);
      got += c.length;
      const tail = Buffer.concat(parts).subarray(-5).toString('latin1');
      if ((!chunked && Number.isFinite(length) && got >= length) || (chunked && tail === '0\r\n\r\n') || got >= BODY_EXCERPT * 4) done();
    };
    const timer = setTimeout(done, limitMs);
    socket.on('data', onChunk);
    socket.on('end', done);
    socket.on('close', done);
    socket.on('error', done);
    if (!chunked && length === 0) return done();
    if (rest.length) onChunk(rest);
  });
}

/** An open WebSocket: answers pings and close frames, queues data messages, remembers how it closed. */
export class CheckSocket {
  private readonly decoder: FrameDecoder;
  private readonly queue: WsMessage[] = [];
  private readonly waiters = new Set<() => void>();
  /** The server's close frame, once it came. */
  serverClose: WsMessage | undefined;
  private closeSent = false;
  ended = false;
  violation: ProtocolViolation | undefined;

  constructor(
    private readonly socket: net.Socket,
    rest: Buffer,
    deflate: boolean,
  ) {
    this.decoder = new FrameDecoder({
      from: 'server',
      deflate,
      maxMessageBytes: 1024 * 1024,
      onMessage: (m) => this.onMessage(m),
      onViolation: (v) => {
        this.violation = v;
        this.wake();
      },
    });
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => this.decoder.push(c, performance.now()));
    socket.on('error', () => {});
    socket.on('end', () => socket.end());
    socket.on('close', () => {
      this.ended = true;
      this.decoder.destroy();
      this.wake();
    });
    if (rest.length) this.decoder.push(rest, performance.now());
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private write(opcode: number, payload: Buffer): void {
    if (this.ended || this.socket.destroyed || this.socket.writableEnded) return;
    this.socket.write(encodeFrame({ opcode, payload, mask: true }));
  }

  private onMessage(m: WsMessage): void {
    if (m.kind === 'ping') this.write(0xa, m.data);
    else if (m.kind === 'close') {
      if (!this.serverClose) {
        this.serverClose = m;
        if (!this.closeSent) {
          this.closeSent = true;
          const code = m.closeCode !== undefined && m.closeCode !== 1005 ? m.closeCode : undefined;
          this.write(0x8, closePayload(code));
        }
        this.socket.end();
      }
    } else if (m.kind === 'text' || m.kind === 'binary') this.queue.push(m);
    this.wake();
  }

  get closed(): boolean {
    return this.serverClose !== undefined || this.ended || this.violation !== undefined;
  }

  /** Resolves when pred() holds, or with false after ms. */
  private until(pred: () => boolean, ms: number): Promise<boolean> {
    if (pred()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (!pred()) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(pred());
      }, ms);
      this.waiters.add(check);
    });
  }

  /** Waits up to ms for the server to close (a close frame, the end of the connection, or a protocol error). */
  waitForClose(ms: number): Promise<boolean> {
    return this.until(() => this.closed, ms);
  }

  /** The data messages received and not taken yet (e.g. a greeting sent on open); the queue is emptied. */
  takeQueued(): WsMessage[] {
    return this.queue.splice(0);
  }

  /** Sends a text message; returns when it was written (performance.now()). */
  sendText(text: string): number {
    const at = performance.now();
    this.write(0x1, Buffer.from(text, 'utf8'));
    return at;
  }

  /** The next data message from the server, or undefined when the connection closed or ms passed first. */
  async nextMessage(ms: number): Promise<WsMessage | undefined> {
    await this.until(() => this.queue.length > 0 || this.closed, ms);
    return this.queue.shift();
  }

  /** How the WebSocket closed, in the frame tap's terms; undefined while it is open. */
  closeSummary(): CloseSummary | undefined {
    const m = this.serverClose;
    if (m) {
      const code = m.closeCode ?? 1005;
      return { initiator: 'server', code, reason: m.closeReason ?? '', meaning: closeCodeMeaning(code), clean: true };
    }
    if (this.ended) return { initiator: 'none', code: 1006, reason: '', meaning: closeCodeMeaning(1006), clean: false };
    return undefined;
  }

  /** Closes with 1000 and waits (up to ms) for the server's close, then drops the connection. */
  async close(ms = 1000): Promise<void> {
    if (!this.ended && !this.closeSent) {
      this.closeSent = true;
      this.write(0x8, closePayload(1000));
    }
    await this.until(() => this.ended, ms);
    this.socket.destroy();
    this.decoder.destroy();
  }
}
