/**
 * The tunnel after a validated 101: raw bytes both ways, unchanged, with
 * backpressure and half-close. A reset on one side becomes a reset on the other.
 * Observers get each chunk after it was handed to the other socket; they must not
 * keep or modify it (copy it first).
 */
import type net from 'node:net';
import type { SessionEnd, TunnelSide } from './session.js';

/** Sees a forwarded chunk and the time it arrived (performance.now()). */
export type ChunkObserver = (chunk: Buffer, at: number) => void;

export interface TunnelOptions {
  onClientChunk?: ChunkObserver;
  onServerChunk?: ChunkObserver;
  /** Time from a chunk's arrival to its hand-off to the kernel, ms (only measured with observers). */
  onForwarded?: (ms: number) => void;
  onEnd: (end: SessionEnd) => void;
}

export interface Tunnel {
  /** Ends the tunnel from the proxy's side (shutdown): both sockets are destroyed. */
  destroy(reason: string): void;
}

interface Direction {
  from: net.Socket;
  to: net.Socket;
  bytes: number;
  observe: ChunkObserver | undefined;
  forwarded: ((ms: number) => void) | undefined;
}

function pump(d: Direction): void {
  const { observe, forwarded } = d;
  if (observe) {
    d.from.on('data', (chunk: Buffer) => {
      const at = performance.now();
      d.bytes += chunk.length;
      const ok = d.to.write(chunk);
      // Nothing left in the stream's buffer: the kernel has the bytes now.
      if (forwarded && d.to.writableLength === 0) forwarded(performance.now() - at);
      else if (forwarded) d.to.once('drain', () => forwarded(performance.now() - at));
      if (!ok) d.from.pause();
      observe(chunk, at);
    });
  } else {
    // The plain path: no timestamps, no closures per chunk.
    d.from.on('data', (chunk: Buffer) => {
      d.bytes += chunk.length;
      if (!d.to.write(chunk)) d.from.pause();
    });
  }
  d.to.on('drain', () => d.from.resume());
  d.from.on('end', () => {
    if (!d.to.destroyed) d.to.end();
  });
}

export function tunnel(client: net.Socket, server: net.Socket, opts: TunnelOptions): Tunnel {
  const started = performance.now();
  const up: Direction = { from: client, to: server, bytes: 0, observe: opts.onClientChunk, forwarded: opts.onForwarded };
  const down: Direction = { from: server, to: client, bytes: 0, observe: opts.onServerChunk, forwarded: opts.onForwarded };
  let first: { side: TunnelSide; how: SessionEnd['how']; error?: string } | undefined;
  let closed = 0;
  let reported = false;

  const note = (side: TunnelSide, how: SessionEnd['how'], error?: string): void => {
    if (first) return;
    first = { side, how };
    if (error !== undefined) first.error = error;
  };
  const onClosed = (): void => {
    if (++closed < 2 || reported) return;
    reported = true;
    const end: SessionEnd = {
      endedBy: first?.side ?? 'proxy',
      how: first?.how ?? 'error',
      durationMs: performance.now() - started,
      bytes: { clientToServer: up.bytes, serverToClient: down.bytes },
    };
    if (first?.error !== undefined) end.error = first.error;
    opts.onEnd(end);
  };
  const onError = (side: TunnelSide, other: net.Socket) => (err: NodeJS.ErrnoException) => {
    const reset = err.code === 'ECONNRESET';
    note(side, reset ? 'reset' : 'error', `${err.code ?? ''} ${err.message}`.trim());
    // Pass a reset on; any other failure ends the other side as abruptly.
    if (!other.destroyed) {
      if (reset && typeof other.resetAndDestroy === 'function') other.resetAndDestroy();
      else other.destroy();
    }
  };

  client.on('end', () => note('client', 'fin'));
  server.on('end', () => note('server', 'fin'));
  client.on('error', onError('client', server));
  server.on('error', onError('server', client));
  client.on('close', () => {
    note('client', 'fin');
    if (!server.destroyed && server.writableEnded === false && client.readableEnded === false) server.destroy();
    onClosed();
  });
  server.on('close', () => {
    note('server', 'fin');
    if (!client.destroyed && client.writableEnded === false && server.readableEnded === false) client.destroy();
    onClosed();
  });
  client.setNoDelay(true);
  server.setNoDelay(true);
  pump(up);
  pump(down);
  // Both sockets may hold bytes that arrived while the handshake was being checked.
  client.resume();
  server.resume();

  return {
    destroy(reason: string) {
      note('proxy', 'shutdown', reason);
      client.destroy();
      server.destroy();
    },
  };
}
