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

/**
 * A target as a person types it: a URL (http, https, ws, wss), host:port (http), or a bare port
 * (localhost). A scheme without its colon (http//host) or a host that is only a number is
 * refused with the form that was probably meant.
 */
export function parseTarget(input: string): Target {
  const text = input.trim();
  if (/^:?\d{1,5}$/.test(text)) return parseTarget(`http://localhost:${text.replace(/^:/, '')}`);
  const noColon = /^(https?|wss?)\/\/(.*)$/i.exec(text);
  if (noColon) throw new TargetError(`invalid target "${input}": the scheme needs a colon: ${noColon[1]!.toLowerCase()}://${noColon[2]}`);
  let u: URL;
  try {
    u = new URL(text.includes('://') ? text : `http://${text}`);
  } catch {
    throw new TargetError(`invalid target "${input}": expected a URL such as http://localhost:8000 (or host:port, or a port)`);
  }
  const typed = /^(?:[a-z]+:\/\/)?([^/:?#]+)/i.exec(text)?.[1] ?? '';
  if (/^\d+$/.test(typed)) {
    throw new TargetError(`invalid target "${input}": "${typed}" is not a host name; for a port on this machine write http://localhost:${typed}`);
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
