/**
 * An address and port as people read them: 127.0.0.1:5173, [::1]:5173 (an IPv6 address in
 * brackets, RFC 3986), and an IPv4 client of a dual-stack listener (::ffff:10.0.0.5) as the
 * IPv4 address it is.
 */
import type net from 'node:net';

export function hostPort(address: string | undefined, port: number | undefined): string {
  const a = address ?? '?';
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  const host = v4 ? v4[1]! : a.includes(':') ? `[${a}]` : a;
  return `${host}:${port ?? 0}`;
}

/** The far end of a socket, as hostPort prints it. */
export function peerOf(socket: Pick<net.Socket, 'remoteAddress' | 'remotePort'> | undefined): string {
  return hostPort(socket?.remoteAddress, socket?.remotePort);
}
