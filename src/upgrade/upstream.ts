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

export interface ConnectProbe {
  reachable: boolean;
  /** Why not: an errno code, or the timeout. */
  error?: string;
  connectMs?: number;
}

/** Opens and closes a TCP connection to the target (nothing is sent): does it accept one within ms? */
export function probeConnect(target: Target, ms: number): Promise<ConnectProbe> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect({ host: target.host, port: target.port });
    const done = (r: ConnectProbe): void => {
      socket.destroy();
      resolve(r);
    };
    socket.setTimeout(ms, () => done({ reachable: false, error: `no connection within ${ms} ms` }));
    socket.once('connect', () => done({ reachable: true, connectMs: Math.round((performance.now() - started) * 100) / 100 }));
    socket.once('error', (err: NodeJS.ErrnoException) => done({ reachable: false, error: err.code ?? err.message }));
  });
}
