/**
 * Connecting to the backend (plain or TLS), and what went wrong as an UpstreamFailure
 * (inspect/upstream.ts turns it into a finding).
 */
import net from 'node:net';
import tls from 'node:tls';
import type { UpstreamFailure } from '../session/session.js';
import type { Target } from '../wire/target.js';

export interface ConnectOptions {
  /** Accept any certificate from an https/wss target. */
  insecure: boolean;
}

/** Opens a raw connection to the target. 'ready' is 'connect' for TCP, 'secureConnect' for TLS. */
export function connectUpstream(target: Target, opts: ConnectOptions): { socket: net.Socket; readyEvent: string } {
  if (target.secure) {
    const socket = tls.connect({
      host: target.host,
      port: target.port,
      servername: net.isIP(target.host) ? undefined : target.host,
      rejectUnauthorized: !opts.insecure,
      ALPNProtocols: ['http/1.1'],
      allowHalfOpen: true,
    } as tls.ConnectionOptions);
    return { socket, readyEvent: 'secureConnect' };
  }
  const socket = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
  return { socket, readyEvent: 'connect' };
}

export class UpstreamTimeout extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(
    readonly phase: 'connect' | 'answer',
    ms: number,
  ) {
    super(phase === 'connect' ? `no connection within ${ms} ms` : `connected, but no answer within ${ms} ms`);
  }
}

export function failureOf(err: unknown): UpstreamFailure {
  const e = err as NodeJS.ErrnoException;
  return { code: typeof e?.code === 'string' ? e.code : 'EUNKNOWN', message: e?.message ?? String(err) };
}

/** Whether the target accepts a TCP connection within ms (nothing is sent). */
export function acceptsConnection(target: Target, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: target.host, port: target.port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), ms);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
