/**
 * The first request head of each connection, read raw: an upgrade goes to wstap's own relay
 * with the exact bytes; anything else is handed, bytes intact, to the HTTP path. Written like
 * tunnel.ts: one small state object per connection, module-level listeners that find it on
 * the socket (an idle proxy holds thousands of connections: no closures per connection).
 */
import type net from 'node:net';
import type { Logger } from 'pino';
import type { RelayContext } from '../upgrade/relay.js';
import { rejectMalformedUpgrade, relayUpgrade } from '../upgrade/relay.js';
import { endAndLinger, plainResponse } from '../upgrade/responses.js';
import type { WebSocketPaths } from './http-log.js';
import { HeadParseError, hasToken, headEnd, parseRequestHead, type RequestHead } from '../wire/http-head.js';
import { peerOf } from '../wire/host-port.js';

export interface FirstHeadContext {
  relay: RelayContext;
  log: Logger;
  maxHeaderSize: number;
  headTimeoutMs: number;
  /** Ordinary HTTP (and upgrades to other protocols): Node's parser takes the socket from the first byte. */
  toHttp(socket: net.Socket): void;
  /** Paths that carried upgrades. */
  wsPaths: WebSocketPaths;
}

const kHead = Symbol('wstap.first-head');
type HeadSocket = net.Socket & { [kHead]?: FirstHead };

const UPGRADE_LINE = /(^|\n)upgrade[ \t]*:/i;

class FirstHead {
  buf: Buffer | undefined;
  readonly timer: NodeJS.Timeout;
  /** Read at once: a socket that failed may no longer know its peer. */
  readonly peer: string;

  constructor(
    readonly ctx: FirstHeadContext,
    readonly socket: HeadSocket,
  ) {
    this.timer = setTimeout(onHeadTimeout, ctx.headTimeoutMs, this);
    this.peer = peerOf(socket);
  }

  /** Done reading: the socket is paused with none of these listeners. */
  stop(): void {
    const s = this.socket;
    clearTimeout(this.timer);
    s.pause();
    s.removeListener('data', onData);
    s.removeListener('error', onError);
    s.removeListener('close', onClose);
    s.removeListener('end', onEnd);
    // Not `delete`: deleting a property other than the last one added turns the socket into a
    // dictionary-mode object (about 1.6 KB more for each connection held).
    s[kHead] = undefined;
  }

  tooLarge(): void {
    const max = this.ctx.maxHeaderSize;
    this.ctx.log.warn(
      { event: 'client-error', client: this.peer, error: 'HEADER_TOO_LARGE' },
      `request head from ${this.peer} is larger than ${max} bytes → 431`,
    );
    endAndLinger(this.socket, plainResponse(431, 'Request Header Fields Too Large', `wstap: the request head is larger than ${max} bytes\n`));
  }

  toHttp(buf: Buffer): void {
    this.socket.unshift(buf);
    this.ctx.toHttp(this.socket);
  }

  data(chunk: Buffer): void {
    const buf = (this.buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk);
    if (buf[0] === 0x16) {
      this.stop();
      this.ctx.log.warn(
        { event: 'client-error', client: this.peer, error: 'TLS_ON_PLAIN_PORT' },
        `client ${this.peer} started a TLS handshake: wstap listens for plain ws:// and http://`,
      );
      this.socket.destroy();
      return;
    }
    let end = headEnd(buf);
    const bareLf = end < 0 ? buf.indexOf('\n\n') : -1;
    if (end < 0 && bareLf < 0) {
      if (buf.length > this.ctx.maxHeaderSize) {
        this.stop();
        this.tooLarge();
      }
      return;
    }
    this.stop();
    if (end < 0) end = bareLf + 2;
    if (end > this.ctx.maxHeaderSize) {
      this.tooLarge();
      return;
    }
    if (!UPGRADE_LINE.test(buf.toString('latin1', 0, end))) {
      this.toHttp(buf);
      return;
    }
    this.upgrade(buf, end, bareLf >= 0);
  }

  private upgrade(buf: Buffer, end: number, bareLf: boolean): void {
    let request: RequestHead;
    try {
      if (bareLf) throw new HeadParseError('bare LF line endings (lines must end with CRLF)');
      request = parseRequestHead(buf.subarray(0, end));
    } catch (err) {
      rejectMalformedUpgrade(this.ctx.relay, this.socket, (err as Error).message);
      return;
    }
    // An upgrade to another protocol (h2c): the HTTP path answers it.
    if (!hasToken(request.headers, 'upgrade', 'websocket')) {
      this.toHttp(buf);
      return;
    }
    this.ctx.wsPaths.add(request.target);
    relayUpgrade(this.ctx.relay, this.socket, request, buf.subarray(end), 'wire');
  }
}

// --- listeners: `this` is the socket, its state is on it ------------------------------------

function onData(this: HeadSocket, chunk: Buffer): void {
  this[kHead]?.data(chunk);
}

function onError(this: HeadSocket, err: NodeJS.ErrnoException): void {
  const h = this[kHead];
  if (!h) return;
  clearTimeout(h.timer);
  h.ctx.log.debug({ event: 'client-error', client: h.peer, error: err.code }, `client went away before its request (${err.code})`);
}

function onClose(this: HeadSocket): void {
  const h = this[kHead];
  if (h) clearTimeout(h.timer);
}

/** The listener allows half-open sockets: a client that ends before its head is done is closed here. */
function onEnd(this: HeadSocket): void {
  const h = this[kHead];
  if (!h) return;
  clearTimeout(h.timer);
  h.ctx.log.debug({ event: 'client-error', client: h.peer }, 'the client closed before sending a whole request head');
  this.destroy();
}

function onHeadTimeout(h: FirstHead): void {
  h.stop();
  if (!h.buf?.length) {
    // Nothing at all: a browser's speculative preconnection, or a port scan. Closed without a word, as nginx does.
    h.ctx.log.debug({ event: 'client-error', client: h.peer }, `no request from ${h.peer} within ${h.ctx.headTimeoutMs} ms: connection closed`);
    h.socket.destroy();
    return;
  }
  h.ctx.log.warn(
    { event: 'client-error', client: h.peer, error: 'HEAD_TIMEOUT', status: 408 },
    `request head from ${h.peer} not complete within ${h.ctx.headTimeoutMs} ms (${h.buf.length} bytes came) → 408`,
  );
  endAndLinger(h.socket, plainResponse(408, 'Request Timeout', `wstap: the request head was not complete within ${h.ctx.headTimeoutMs} ms\n`));
}

/** Reads the first request head of a new connection and routes it. */
export function readFirstHead(ctx: FirstHeadContext, socket: net.Socket): void {
  const s = socket as HeadSocket;
  s[kHead] = new FirstHead(ctx, s);
  s.on('data', onData);
  s.on('error', onError);
  s.on('close', onClose);
  s.on('end', onEnd);
}
