/**
 * No secret reaches the recording (issue 4): Authorization, ?token=, Cookie, a token
 * subprotocol (offered, or chosen by the backend) and a JSON "token" field are redacted;
 * names, schemes and shapes are kept.
 * Real sockets on 127.0.0.1, ephemeral ports; the JSON Lines file is read back with the loader.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadRecording } from '../../src/recording/loader.js';
import { demoBackend, startWsServer } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { fakeJwt } from '../support/helpers.js';
import { ensureBuilt } from '../support/process.js';
import { closeClient, openClient, recordingProxy } from '../support/recording.js';
import { tmpFile } from '../support/temp.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

describe('no secret reaches the recording', () => {
  it('Authorization, ?token=, Cookie, a token subprotocol and a JSON "token" field are all redacted', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const tp = await recordingProxy(backend.url, { file });
    const headerToken = fakeJwt(600);
    const queryToken = fakeJwt(900);
    const cookieValue = `fake-cookie-${randomBytes(12).toString('hex')}`;
    const protocolToken = `fake-proto-${randomBytes(12).toString('hex')}`;
    const payloadToken = `fake-payload-${randomBytes(12).toString('hex')}`;
    const c = await openClient(tp.wsUrl(`/ws?token=${queryToken}&room=1`), ['access_token', protocolToken], {
      headers: { Authorization: `Bearer ${headerToken}`, Cookie: `sid=${cookieValue}; theme=dark`, Origin: 'http://localhost:3000' },
    });
    expect(c.ws.protocol).toBe('access_token');
    const echo = await c.ask(JSON.stringify({ type: 'auth', token: payloadToken, note: 'kept' }));
    // The backend echoed the secret back: the server message carries it too.
    expect(echo.text).toContain(payloadToken);
    await closeClient(c);
    await tp.nextEnd();
    await tp.close();

    const text = readFileSync(file, 'utf8');
    const secrets = [headerToken, queryToken, cookieValue, protocolToken, payloadToken];
    for (const secret of secrets) expect(text).not.toContain(secret);
    // Nor any part of the JWTs beyond their (public) header segment.
    for (const jwt of [headerToken, queryToken]) for (const part of jwt.split('.').slice(1)) expect(text).not.toContain(part);

    // What is kept: the names, the scheme, the shape of things.
    const s = loadRecording(file).sessions[0]!;
    const header = (name: string): string | undefined => s.open.request.headers.find((h) => h.name.toLowerCase() === name)?.value;
    expect(s.open.request.path).toBe('/ws?token=[redacted]&room=1');
    expect(header('authorization')).toBe('Bearer [redacted]');
    expect(header('cookie')).toMatch(/^sid=\[redacted\]; theme=/);
    expect(header('sec-websocket-protocol')).toBe('access_token, [redacted]');
    expect(s.open.protocol).toBe('access_token');
    const sent = s.messages.find((m) => m.from === 'client' && m.kind === 'text')!;
    expect(JSON.parse(sent.text!)).toEqual({ type: 'auth', token: '[redacted]', note: 'kept' });
  });

  // Guards the chosen subprotocol: a token entry is only recognisable among the offered ones, so
  // the recorder redacts the chosen one (open.protocol) and the response headers against the
  // offer, by the same rule as the log; a backend that answers with the token entry itself gets
  // it written nowhere.
  it('a backend that answers with the token subprotocol itself: the token is not in the file', async () => {
    // Some servers echo the token entry back as the chosen subprotocol.
    const { wss, port } = await startWsServer({ handleProtocols: (offered) => [...offered][1] ?? false });
    wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d)));
    const file = tmpFile();
    const tp = await recordingProxy(`http://127.0.0.1:${port}`, { file });
    const protocolToken = `fake-proto-${randomBytes(12).toString('hex')}`;
    const c = await openClient(tp.wsUrl('/ws'), ['access_token', protocolToken]);
    expect(c.ws.protocol).toBe(protocolToken);
    await c.ask('hi');
    await closeClient(c);
    await tp.nextEnd();
    await tp.close();
    expect(readFileSync(file, 'utf8')).not.toContain(protocolToken);
  });
});
