/**
 * Changes wstap makes to an upgrade request before it goes to the backend. Every other byte
 * of the head stays as the client sent it.
 */
import type { Handshake } from '../session/session.js';
import { withoutLines } from '../wire/http-head.js';

export interface RewriteOptions {
  /** --normalize-origin: forward only the first of several Origin lines. */
  normalizeOrigin: boolean;
}

export interface Rewritten {
  head: Buffer;
  originNormalized: boolean;
}

export function rewriteHead(hs: Handshake, opts: RewriteOptions): Rewritten {
  const request = hs.request;
  if (!opts.normalizeOrigin || hs.origins.length < 2) return { head: request.raw, originNormalized: false };
  const originLines = request.headers.filter((h) => h.name.toLowerCase() === 'origin');
  return { head: withoutLines(request.raw, originLines.slice(1)), originNormalized: true };
}
