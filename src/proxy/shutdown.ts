/**
 * Stopping the proxy: no new connections, a bounded grace for open sessions, then the rest
 * is closed, every session reports its end, and the sinks write out what they hold.
 */
import type http from 'node:http';
import type net from 'node:net';
import type { SessionBus } from '../sinks/bus.js';
import type { LiveSession } from '../upgrade/relay.js';
import type { HttpForwarder } from './http-forward.js';

export interface ShutdownParts {
  servers: readonly net.Server[];
  httpServer: http.Server;
  forwarder: HttpForwarder;
  /** Every client socket (any state). */
  sockets: Set<net.Socket>;
  live: Set<LiveSession>;
  pendingEnds: Set<Promise<void>>;
  bus: SessionBus;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitUntil(done: () => boolean, ms: number, step: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await sleep(step);
}

/** close(graceMs): idempotent; every call gets the same promise. */
export function shutdown(parts: ShutdownParts): (graceMs: number) => Promise<void> {
  let closing: Promise<void> | undefined;
  return (graceMs) =>
    (closing ??= (async () => {
      // net.Server#close stops accepting at once; its callback waits for every connection.
      const stopped = Promise.all(parts.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      parts.httpServer.closeIdleConnections();
      await waitUntil(() => parts.live.size === 0, graceMs, 25);
      // Each session is ended by wstap (close frames where it can); a session whose peers do not close is cut after a second.
      await Promise.race([Promise.all([...parts.live].map((l) => l.abort('proxy shutdown'))), sleep(1500)]);
      parts.httpServer.closeAllConnections();
      // Stops its head-timeout check (it never listened: the callback's "not running" is expected).
      parts.httpServer.close(() => {});
      for (const s of parts.sockets) s.destroy();
      parts.forwarder.close();
      await stopped;
      // Let the aborted sessions report (their sockets' close events) before the sinks flush.
      await waitUntil(() => parts.live.size === 0, 1000, 5);
      await Promise.all([...parts.pendingEnds]);
      await parts.bus.flush();
    })());
}

/** Keeps a socket in a set until it closes (its own function: no closure over a connection's scope). */
export function track(set: Set<net.Socket>, socket: net.Socket): void {
  set.add(socket);
  socket.once('close', () => set.delete(socket));
}
