/**
 * Filling what a recording redacted (--secret NAME=VALUE) and matching a redacted value:
 * the pure functions behind `wstap replay`, `wstap serve` and the fixture. The network side
 * is in test/behaviour/replay-credentials.test.ts (a real FastAPI backend).
 */
import { describe, expect, it } from 'vitest';
import type { RecordedSession } from '../../../src/recording/format.js';
import { REDACTED_PROTOCOL, replayHandshake } from '../../../src/replay/handshake.js';
import { fillText, fitsRedacted, secretValues } from '../../../src/replay/secrets.js';

const session = (path: string, headers: [string, string][]): RecordedSession =>
  ({
    id: 'ws-1',
    open: { request: { path, headers: headers.map(([name, value]) => ({ name, value })) } },
    messages: [],
  }) as unknown as RecordedSession;

describe('fillText: a recorded message given back its secrets', () => {
  it('fills each redacted JSON field from the secret of its name (case-insensitive), JSON-escaped', () => {
    const text = '{"type":"auth","Token":"[redacted]","payload":{"api_key" : "[redacted]"},"n":1}';
    const r = fillText(text, secretValues({ token: 'a"b\\c', API_KEY: 'k1' }));
    expect(JSON.parse(r.text)).toEqual({ type: 'auth', Token: 'a"b\\c', payload: { api_key: 'k1' }, n: 1 });
    expect(r.still).toEqual([]);
  });

  it('names the fields left without a secret, and a JWT the recorder found without a name', () => {
    const r = fillText('{"token":"[redacted]","password":"[redacted]","note":"Bearer [redacted]"}', secretValues({ token: 't' }));
    expect(r.text).toBe('{"token":"t","password":"[redacted]","note":"Bearer [redacted]"}');
    expect(r.still).toEqual(['field password', 'a JWT (no name to give it with --secret)']);
  });

  it('leaves a text without "[redacted]" as it is (the same string)', () => {
    const text = '{"token":"not-redacted"}';
    expect(fillText(text, secretValues({ token: 'x' })).text).toBe(text);
  });
});

describe('fitsRedacted: what a redacted recorded value matches', () => {
  it('any value in the redacted place, the rest exactly', () => {
    expect(fitsRedacted('[redacted]', 'anything at all')).toBe(true);
    expect(fitsRedacted('Bearer [redacted]', 'Bearer eyJ.x.y')).toBe(true);
    expect(fitsRedacted('Bearer [redacted]', 'Basic eyJ.x.y')).toBe(false);
    expect(fitsRedacted('a [redacted] b [redacted] c', 'a 1 b 2 c')).toBe(true);
    expect(fitsRedacted('a [redacted] b', 'a 1 c')).toBe(false);
    expect(fitsRedacted('(x+y)*', '(x+y)*')).toBe(true);
    expect(fitsRedacted('(x+y)*', 'xxy')).toBe(false);
  });
});

describe('replayHandshake: the recorded handshake with --secret, --header and --add-header', () => {
  const s = session('/ws?token=[redacted]&room=a&sig=[redacted]', [
    ['Host', 'backend:8000'],
    ['Authorization', 'Bearer [redacted]'],
    ['Cookie', 'theme=[redacted]; session=[redacted]'],
    ['Sec-WebSocket-Protocol', 'graphql-ws, access_token, [redacted]'],
    ['Origin', 'http://localhost:3000'],
    ['X-Api-Key', '[redacted]'],
  ]);

  it('fills query parameters, headers (whole value), cookies and the subprotocol entry after its marker', () => {
    const hs = replayHandshake(s, {
      secrets: { TOKEN: 't 1', sig: 's', authorization: 'Bearer abc', session: 'sess', theme: 'dark', access_token: 'pt', 'x-api-key': 'k' },
    });
    expect(hs.path).toBe('/ws?token=t%201&room=a&sig=s');
    expect(hs.headers).toEqual({
      Authorization: 'Bearer abc',
      Cookie: 'theme=dark; session=sess',
      Origin: 'http://localhost:3000',
      'X-Api-Key': 'k',
    });
    expect(hs.protocols).toEqual(['graphql-ws', 'access_token', 'pt']);
    expect(hs.stillRedacted).toEqual([]);
  });

  it('says what is still redacted, in handshake order, and offers a valid token in place of a redacted subprotocol', () => {
    const hs = replayHandshake(s, { secrets: { session: 'sess' } });
    expect(hs.stillRedacted).toEqual([
      'query parameter token',
      'query parameter sig',
      'header Authorization',
      'cookie theme',
      'header X-Api-Key',
      'subprotocol entry 3',
    ]);
    expect(hs.protocols).toEqual(['graphql-ws', 'access_token', REDACTED_PROTOCOL]);
    expect(hs.headers['Cookie']).toBe('theme=[redacted]; session=sess');
  });

  it('--header replaces a recorded header (and needs no secret); an unrecorded one is not sent but named; --add-header adds', () => {
    const hs = replayHandshake(s, {
      headers: { authorization: 'Bearer h', 'X-Tenant': 'acme' },
      addHeaders: { 'X-Trace': '1' },
    });
    expect(hs.headers['Authorization']).toBe('Bearer h');
    expect(hs.headers['X-Tenant']).toBeUndefined();
    expect(hs.headers['X-Trace']).toBe('1');
    expect(hs.unusedHeaders).toEqual(['X-Tenant']);
    expect(hs.stillRedacted).not.toContain('header Authorization');
  });

  it('keeps duplicate recorded headers duplicate', () => {
    const hs = replayHandshake(
      session('/ws', [
        ['Origin', 'http://a'],
        ['Origin', 'http://b'],
      ]),
    );
    expect(hs.headers['Origin']).toEqual(['http://a', 'http://b']);
  });
});
