/** The answers wstap writes itself on a connection that will not become a tunnel, and how it ends one. */
import type net from 'node:net';
import type { Endpoint } from '../session/session.js';

/** How long a refused client may keep its side open after wstap ended its own. */
const LINGER_MS = 2000;
const ignore = (): void => {};

/**
 * Ends a connection that will not become a tunnel: writes the last bytes, keeps reading
 * (and dropping) until the client closes too, and destroys it if it does not within LINGER_MS.
 * Closing at once with unread bytes would send a reset that can destroy the answer.
 */
export function endAndLinger(socket: net.Socket, last?: string | Buffer): void {
  socket.on('error', ignore);
  socket.on('data', ignore);
  socket.resume();
  if (last !== undefined) socket.end(last);
  else socket.end();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

export function endpointOf(socket: net.Socket): Endpoint {
  return { address: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 };
}

/** A complete plain-text HTTP/1.1 answer that closes the connection; `tag` goes into an X-Wstap header. */
export function plainResponse(status: number, reason: string, body: string, tag?: string, extra: Record<string, string> = {}): string {
  const more = Object.entries(extra)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Connection: close\r\n${tag ? `X-Wstap: ${tag}\r\n` : ''}${more}\r\n${body}`
  );
}
