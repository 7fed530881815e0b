/**
 * Phase pattern: a slow consumer. One side keeps sending, the other does not read: wstap's
 * writes toward the reader wait (its socket wants a drain) and, since wstap applies
 * backpressure, the sender is held too. Measured from wstap's own sockets.
 */
import type { Side } from '../../session/message.js';
import type { Finding, FindingCodeOf } from '../../session/finding.js';
import { finding } from '../finding.js';
import { bytes, rate } from './units.js';

export interface SlowConsumer {
  /** The side that does not read. */
  reader: Side;
  /** How long wstap's writes toward it have waited, ms. */
  stuckMs: number;
  /** Bytes wstap holds for it now (its own write queue; more waits in the kernel and at the sender). */
  queuedBytes: number;
  /** Bytes per second the other side sent, and the reader took, over that time. */
  senderRate: number;
  readerRate: number;
}

/** How long writes must wait before the reader is called slow, ms. */
export const STUCK_MS = 2000;

export function inspectSlowConsumer(s: SlowConsumer): Finding<FindingCodeOf<'pattern'>> | undefined {
  if (s.stuckMs < STUCK_MS) return undefined;
  const sender: Side = s.reader === 'client' ? 'server' : 'client';
  const hint =
    s.reader === 'client'
      ? 'The client does not read what the server sends: a busy or frozen page (a long task, a background tab), a slow network, or a handler that blocks. The server should watch its send buffer (ws: bufferedAmount) and drop, coalesce or slow down what it sends to a client that falls behind, rather than queue without bound.'
      : 'The server does not read what the client sends: it is overloaded or blocked (a synchronous call in its event loop). Its logs and CPU at this moment say which; the client should watch its send buffer (bufferedAmount) and slow down.';
  return finding(
    'slow-consumer',
    `The ${s.reader} stopped reading: wstap's writes to it have waited ${(s.stuckMs / 1000).toFixed(1)} s with ${bytes(s.queuedBytes)} queued in wstap; the ${sender} sent ${rate(s.senderRate)}, the ${s.reader} took ${rate(s.readerRate)}.`,
    hint,
  );
}
