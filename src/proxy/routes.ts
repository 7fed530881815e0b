/**
 * wstap's own HTTP endpoints, all under /__wstap/ on the proxy's port: never forwarded.
 * One table; the live view, its API and the metrics join it as routes.
 */
import type http from 'node:http';

export const CONTROL_PREFIX = '/__wstap/';

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** The path without the query, e.g. /__wstap/health. */
  path: string;
  /** Matches every path that starts with `path` (its handler reads the rest). */
  prefix?: boolean;
  handle(req: http.IncomingMessage, res: http.ServerResponse): void | Promise<void>;
}

/** Headers of every JSON answer of wstap's own: nothing cached, nothing sniffed, nothing loaded from anywhere. */
export const SAFE_HEADERS = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': "default-src 'none'" };

/** A JSON answer of wstap's own (the API, the controls, 404 and 405 under /__wstap/). */
export function sendJson(res: http.ServerResponse, status: number, body: unknown, extra: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...SAFE_HEADERS, ...extra });
  res.end(`${JSON.stringify(body)}\n`);
}

/** Whether the request is wstap's own (the path starts with /__wstap/, or is /__wstap). */
export function isControlRequest(url: string): boolean {
  return url.startsWith(CONTROL_PREFIX) || url === '/__wstap' || url.startsWith('/__wstap?');
}

/** Answers a request under /__wstap/ from the table: 404 for an unknown path, 405 for a known path with another method. */
export function serveRoute(routes: readonly Route[], req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const matching = routes.filter((r) => (r.prefix ? path.startsWith(r.path) && path.length > r.path.length : r.path === path));
  const route = matching.find((r) => r.method === req.method || (r.method === 'GET' && req.method === 'HEAD'));
  if (route) {
    Promise.resolve(route.handle(req, res)).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: `wstap: ${String(err)}` });
      else res.destroy();
    });
    return;
  }
  if (matching.length) {
    res.setHeader('Allow', matching.map((r) => r.method).join(', '));
    sendJson(res, 405, { error: `wstap: ${req.method} is not allowed on ${path}` });
    return;
  }
  sendJson(res, 404, { error: `wstap: no such endpoint: ${path}`, endpoints: routes.map((r) => `${r.method} ${r.path}`) });
}

/**
 * Whether a request to wstap's own routes names wstap in its Host: an IP address (v4 or v6),
 * localhost or a name under .localhost, this machine's host name, or a name given with
 * --ui-host. Anything else is refused: a page on a foreign site whose name an attacker made
 * resolve to 127.0.0.1 (DNS rebinding) sends its own name.
 */
export function hostAllowed(host: string | undefined, names: ReadonlySet<string>): boolean {
  if (!host) return false;
  let name = host.trim().toLowerCase();
  if (name.startsWith('[')) return /^\[[0-9a-f:.]+(%[\w.-]+)?\](:\d+)?$/.test(name);
  name = name.replace(/:\d+$/, '').replace(/\.$/, '');
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return true;
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  return names.has(name);
}

/** The answer to a request whose Host is not wstap's. */
export function refuseHost(req: http.IncomingMessage, res: http.ServerResponse): void {
  sendJson(res, 421, {
    error: `wstap: refused: Host "${String(req.headers.host ?? '')}" is not this proxy's name or address (DNS rebinding protection); add the name with --ui-host`,
  });
}
