/**
 * An HTTPS + WSS echo backend with a self-signed certificate for 127.0.0.1 and localhost
 * (made with the openssl CLI, as a developer would): GET /health answers "ok", every
 * WebSocket message comes back as it was sent.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { WebSocketServer } from 'ws';

export interface TlsBackend {
  port: number;
  close(): Promise<void>;
}

export async function startTlsEchoBackend(): Promise<TlsBackend> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wstap-tls-'));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  const server = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    res.writeHead(req.url === '/health' ? 200 : 404).end(req.url === '/health' ? 'ok' : '');
  });
  rmSync(dir, { recursive: true, force: true });
  const wss = new WebSocketServer({ server, perMessageDeflate: true });
  wss.on('connection', (ws) => ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary })));
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((res) => {
        for (const c of wss.clients) c.terminate();
        server.closeAllConnections();
        server.close(() => res());
      }),
  };
}
