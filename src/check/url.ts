/** The URL `wstap check` is given: ws, wss, http or https (http means ws). */
import { parseTarget, type Target } from '../wire/target.js';

export class CheckUrlError extends Error {
  override readonly name = 'CheckUrlError';
}

export interface CheckUrl {
  target: Target;
  /** Path and query. */
  path: string;
  /** ws(s)://host:port/path, as used. */
  href: string;
}

/** A WebSocket URL to check: ws, wss, http or https (http means ws). */
export function parseCheckUrl(input: string): CheckUrl {
  let u: URL;
  try {
    u = new URL(input);
  } catch {
    throw new CheckUrlError(`"${input}" is not a URL: expected something like ws://localhost:8000/ws`);
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(u.protocol)) {
    throw new CheckUrlError(`"${input}": the scheme must be ws, wss, http or https, not ${u.protocol.replace(/:$/, '')}`);
  }
  const target = parseTarget(`${u.protocol}//${u.host}`);
  const path = `${u.pathname || '/'}${u.search}`;
  const scheme = target.secure ? 'wss' : 'ws';
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return { target, path, href: `${scheme}://${host}:${target.port}${path}` };
}
