/**
 * The live view's page at /__wstap/ (and a session's own address, /__wstap/sessions/<id>): one
 * HTML shell and its bundled script and style (built by esbuild from src/ui/ into dist/ui/),
 * read once and served from memory. Nothing is loaded from anywhere else: the
 * Content-Security-Policy allows only this origin, and the page works offline.
 */
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import { WSTAP_VERSION } from '../version.js';
import type { Route } from './routes.js';

export const UI_PATH = '/__wstap/';
const ASSETS = `${UI_PATH}assets/`;

/** The page may run its own script and style and talk to its own origin; nothing else, and it is never framed. */
export const UI_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const HEADERS = {
  'Content-Security-Policy': UI_CSP,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

interface Asset {
  type: string;
  body: Buffer;
}

/** dist/ui/, from this module in dist/proxy/ or in src/proxy/ (the tests run the sources). */
const BUILT = new URL('../../dist/ui/', import.meta.url);

function load(): Map<string, Asset> | string {
  const assets = new Map<string, Asset>();
  try {
    assets.set('app.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(new URL('app.js', BUILT)) });
    assets.set('app.css', { type: 'text/css; charset=utf-8', body: readFileSync(new URL('app.css', BUILT)) });
  } catch (err) {
    return `the live view's page is not built (${(err as NodeJS.ErrnoException).code ?? String(err)}): run npm run build`;
  }
  return assets;
}

function shell(): Buffer {
  return Buffer.from(
    `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="wstap-version" content="${WSTAP_VERSION}">
<title>wstap</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${ASSETS}app.css">
<script type="module" src="${ASSETS}app.js"></script>
</head>
<body><div id="app"><noscript>The live view needs JavaScript. The same data: <a href="${UI_PATH}api/sessions">${UI_PATH}api/sessions</a>.</noscript></div></body>
</html>
`,
    'utf8',
  );
}

/** The page's routes: the shell at /__wstap/ and /__wstap/sessions/<id>, the assets, and /__wstap → /__wstap/. */
export function uiRoutes(): Route[] {
  const loaded = load();
  const page = shell();
  const sendPage = (_req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (typeof loaded === 'string') {
      res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', ...HEADERS });
      res.end(`wstap: ${loaded}\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', ...HEADERS });
    res.end(page);
  };
  const sendAsset = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const name = (req.url ?? '').split('?')[0]!.slice(ASSETS.length);
    const asset = typeof loaded === 'string' ? undefined : loaded.get(name);
    if (!asset) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', ...HEADERS });
      res.end(`wstap: no such asset: ${name}\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': asset.type, 'Content-Length': asset.body.length, ...HEADERS });
    res.end(asset.body);
  };
  return [
    { method: 'GET', path: UI_PATH, handle: sendPage },
    {
      method: 'GET',
      path: '/__wstap',
      handle: (_req, res) => {
        res.writeHead(308, { Location: UI_PATH, 'Cache-Control': 'no-store' });
        res.end();
      },
    },
    { method: 'GET', path: `${UI_PATH}sessions/`, prefix: true, handle: sendPage },
    { method: 'GET', path: ASSETS, prefix: true, handle: sendAsset },
  ];
}
