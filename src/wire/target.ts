/**
 * The backend wstap forwards to. ws:// and wss:// are accepted as spellings of
 * http:// and https://: a WebSocket upgrade is an HTTP request.
 */

export interface Target {
  /** Normalised origin, e.g. "http://localhost:8000". */
  url: string;
  secure: boolean;
  host: string;
  port: number;
  /** The path given with --target, which wstap does not use (it forwards the client's path). */
  ignoredPath?: string;
}

export class TargetError extends Error {
  override readonly name = 'TargetError';
}

export function parseTarget(input: string): Target {
  let u: URL;
  try {
    u = new URL(input.includes('://') ? input : `http://${input}`);
  } catch {
    throw new TargetError(`invalid target "${input}": expected a URL such as http://localhost:8000`);
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (!['http', 'https', 'ws', 'wss'].includes(scheme)) {
    throw new TargetError(`invalid target "${input}": the scheme must be http, https, ws or wss, not ${scheme}`);
  }
  const secure = scheme === 'https' || scheme === 'wss';
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (!host) throw new TargetError(`invalid target "${input}": no host name`);
  const port = u.port ? Number(u.port) : secure ? 443 : 80;
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  const t: Target = { url: `${secure ? 'https' : 'http'}://${hostInUrl}:${port}`, secure, host, port };
  const rest = `${u.pathname}${u.search}`;
  if (rest !== '/' && rest !== '') t.ignoredPath = rest;
  return t;
}
