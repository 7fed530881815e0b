/**
 * No secret in any string that leaves wstap (issue 12, class 1). A marker secret goes into every
 * place a string can come from: the query, Authorization, a cookie, a token subprotocol, headers
 * wstap does not know by name (identity-aware proxies' JWT headers), a client message, the
 * backend's close reason, its rejection body and Set-Cookie, a malformed request line, an HTTP
 * request's query, `wstap check`'s URL and header, a --target with a token in its query. Then every output is searched: the proxy's
 * JSON log at debug and its pretty log, the recording, the HAR export, `report` (table and JSON),
 * and `check` (pretty and JSON). The real bin, a real ws backend, real sockets on 127.0.0.1.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { closed, connected, runWstap, startWstap } from '../support/cli.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { ensureBuilt, type Started } from '../support/process.js';
import { tmpFile } from '../support/temp.js';
import { until } from '../support/wait.js';
import { wsClient } from '../support/ws-client.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

/** A JWT whose payload and signature carry a tag that must not appear anywhere. */
function jwt(tag: string): string {
  const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc({ sub: `marker-${tag}`, exp: Math.floor(Date.now() / 1000) + 3600 })}.sig-${tag}-0123456789`;
}

/** A short JWT (a close reason has at most 123 bytes). */
function shortJwt(tag: string): string {
  const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'HS256' })}.${enc({ sub: `m-${tag}` })}.sig-${tag}`;
}

const OPAQUE = (tag: string): string => `opaque-marker-${tag}-7f3a9c`;

/** Every secret put in, and what betrays each in an output: the opaque value, or a JWT's payload and signature. */
const SECRETS = {
  query: OPAQUE('query'),
  bearer: OPAQUE('bearer'),
  cookie: OPAQUE('cookie'),
  subprotocol: OPAQUE('subprotocol'),
  message: OPAQUE('message'),
  setCookie: OPAQUE('setcookie'),
  httpQuery: OPAQUE('httpquery'),
  badLine: OPAQUE('badline'),
  checkQuery: OPAQUE('checkquery'),
  checkBearer: OPAQUE('checkbearer'),
  target: OPAQUE('target'),
  cfAccess: jwt('cfaccess'),
  iap: jwt('iap'),
  closeReason: shortJwt('closereason'),
  rejectBody: jwt('rejectbody'),
  serverText: jwt('servertext'),
};

function leaks(output: string): string[] {
  const found: string[] = [];
  for (const [where, secret] of Object.entries(SECRETS)) {
    const parts = secret.startsWith('eyJ') ? secret.split('.').slice(1) : [secret];
    if (parts.some((p) => output.includes(p))) found.push(where);
  }
  return found;
}

/** A backend that exercises every place: /ws (echo; "close-me" closes 4001 with a JWT in the reason), /reject (401 with a JWT in the body), HTTP (500). */
async function leakyBackend(): Promise<{ url: string; port: number }> {
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => [...offered][0] ?? false });
  wss.on('headers', (headers) => headers.push(`Set-Cookie: session=${SECRETS.setCookie}; HttpOnly`));
  wss.on('connection', (ws) => {
    ws.send(`welcome, your token is ${SECRETS.serverText}`);
    ws.on('message', (d) => {
      if (d.toString() === 'close-me') ws.close(4001, `invalid token ${SECRETS.closeReason}`);
      else ws.send(d.toString());
    });
  });
  const server = http.createServer((_req, res) => {
    res.writeHead(500, { 'Content-Type': 'application/json' });
    res.end('{"error":"boom"}');
  });
  server.on('upgrade', (req, socket, head) => {
    if (req.url?.startsWith('/reject')) {
      const body = JSON.stringify({ detail: `invalid token ${SECRETS.rejectBody}` });
      socket.end(`HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  defer(() => {
    for (const c of wss.clients) c.terminate();
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const port = (server.address() as net.AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, port };
}

/** Everything a client can send that carries a secret, through wstap on `port`. */
async function exercise(port: number): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${SECRETS.query}&room=1`, ['access_token', SECRETS.subprotocol], {
    headers: {
      Authorization: `Bearer ${SECRETS.bearer}`,
      Cookie: `theme=dark; session=${SECRETS.cookie}`,
      'Cf-Access-Jwt-Assertion': SECRETS.cfAccess,
      'X-Goog-IAP-JWT-Assertion': SECRETS.iap,
      Origin: 'http://localhost:3000',
    },
  });
  ws.on('error', () => {});
  defer(() => ws.terminate());
  await connected(ws);
  // The echo of the auth message (the welcome may come before or after this listener).
  const echoed = new Promise((r) => ws.on('message', (d) => d.toString().includes('"auth"') && r(d)));
  ws.send(JSON.stringify({ type: 'auth', token: SECRETS.message }));
  await echoed;
  ws.send('close-me');
  await closed(ws);

  const rejected = wsClient(`ws://127.0.0.1:${port}/reject?token=${SECRETS.query}`, { headers: { Origin: 'http://localhost:3000' } });
  await new Promise((r) => rejected.once('unexpected-response', (_q, res) => r(res.resume())));

  const bad = net.connect(port, '127.0.0.1');
  defer(() => bad.destroy());
  bad.write(`GET /ws?token=${SECRETS.badLine}&x=1 HTTP/9.x\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`);
  await new Promise((r) => bad.once('data', r));

  const res = await fetch(`http://127.0.0.1:${port}/api/items?api_key=${SECRETS.httpQuery}`);
  await res.text();
}

async function stop(w: Started): Promise<string> {
  w.proc.kill('SIGTERM');
  await w.exited;
  return w.stdout() + w.stderr();
}

describe('no secret in any output', () => {
  it('the JSON log at debug, the pretty log at debug, the recording, its HAR export and report hold none of the markers', {
    timeout: 60_000,
  }, async () => {
    const backend = await leakyBackend();
    const rec = tmpFile('ws.jsonl');
    const outputs: Record<string, string> = {};
    for (const format of ['json', 'pretty'] as const) {
      const w = startWstap(
        [
          '--target',
          `${backend.url}/?token=${SECRETS.target}`,
          '--port',
          '0',
          '--host',
          '127.0.0.1',
          '--log-format',
          format,
          '--log-level',
          'debug',
          ...(format === 'json' ? ['--record', rec] : []),
        ],
        { WSTAP_IN_CONTAINER: 'false' },
      );
      const m = await w.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)/, 'the listening line');
      await exercise(Number(m[1]));
      await until(() => /api\/items/.test(w.stdout()), 'the HTTP line');
      outputs[`${format} log`] = await stop(w);
    }
    outputs['recording'] = readFileSync(rec, 'utf8');
    const har = tmpFile('ws.har');
    const exported = await runWstap(['export', rec, '--har', har]);
    expect(exported.code).toBe(0);
    outputs['HAR'] = readFileSync(har, 'utf8');
    outputs['report'] = (await runWstap(['report', rec])).stdout;
    outputs['report --json'] = (await runWstap(['report', rec, '--json'])).stdout;

    // The places were really exercised: each output shows the redaction where the secret was.
    expect(outputs['json log']).toContain('Bearer [redacted]');
    expect(outputs['json log']).toContain('invalid token [redacted]');
    expect(outputs['json log']).toMatch(/token=\[redacted\]&x=\[redacted\]/);
    expect(outputs['recording']).toContain('"name":"Cf-Access-Jwt-Assertion","value":"[redacted]"');
    expect(outputs['pretty log']).toContain('api_key=[redacted]');
    expect(outputs['report']).toContain('4001');
    for (const [name, text] of Object.entries(outputs)) expect(leaks(text), name).toEqual([]);
  });

  it("wstap check, pretty and JSON: the URL, the header and the backend's close reason hold none", { timeout: 30_000 }, async () => {
    const backend = await leakyBackend();
    const url = `ws://127.0.0.1:${backend.port}/ws?token=${SECRETS.checkQuery}`;
    const args = ['check', url, '-H', `Authorization: Bearer ${SECRETS.checkBearer}`, '--send', 'close-me', '--origin', 'http://localhost:3000'];
    const pretty = await runWstap(args, { WSTAP_IN_CONTAINER: 'false' }, 15_000);
    const json = await runWstap([...args, '--json'], { WSTAP_IN_CONTAINER: 'false' }, 15_000);
    expect(pretty.stdout).toContain('invalid token [redacted]');
    for (const [name, r] of Object.entries({ pretty, json })) expect(leaks(r.stdout + r.stderr), name).toEqual([]);
  });
});
