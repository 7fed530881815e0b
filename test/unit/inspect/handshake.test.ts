/**
 * The inspectors of the client's upgrade request (src/inspect/handshake/), case by case: which
 * code each finding gets, and the facts a user reads in its message (the broken rules, the
 * expiry of a token and how long ago, the Origin lines and the policy).
 */
import { describe, expect, it } from 'vitest';
import { inspectAuth } from '../../../src/inspect/handshake/auth.js';
import { inspectOrigin } from '../../../src/inspect/handshake/origin.js';
import { handshakeProblems, inspectHandshakeValidity, invalidHandshakeFinding } from '../../../src/inspect/handshake/validity.js';
import type { InspectContext } from '../../../src/inspect/types.js';
import type { Credential } from '../../../src/secrets/credentials.js';
import type { Handshake } from '../../../src/session/session.js';
import { readHandshake } from '../../../src/upgrade/handshake.js';
import { parseRequestHead, parseResponseHead } from '../../../src/wire/http-head.js';
import { parseOriginPattern } from '../../../src/wire/origin-pattern.js';

const VALID = [
  'Host: backend:8000',
  'Upgrade: websocket',
  'Connection: Upgrade',
  'Sec-WebSocket-Version: 13',
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
];

function hs(requestLine: string, lines: string[]): Handshake {
  return readHandshake(parseRequestHead(Buffer.from(`${[requestLine, ...lines].join('\r\n')}\r\n\r\n`, 'latin1')), 'wire', 0);
}
const without = (name: string): string[] => VALID.filter((l) => !l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
const ctx = (over: Partial<InspectContext> = {}): InspectContext => ({ allowOrigins: [], normalizeOrigin: false, now: 0, ...over });

describe('handshake validity', () => {
  it('finds nothing wrong with a valid upgrade, however its tokens are written', () => {
    expect(handshakeProblems(hs('GET /ws HTTP/1.1', VALID))).toEqual([]);
    expect(
      handshakeProblems(
        hs('GET / HTTP/1.1', [
          ...without('upgrade').filter((l) => !l.startsWith('Connection')),
          'Upgrade: WebSocket',
          'Connection: keep-alive, upgrade',
        ]),
      ),
    ).toEqual([]);
    expect(inspectHandshakeValidity(hs('GET /ws HTTP/1.1', VALID))).toEqual([]);
  });

  it('names each broken rule, in order', () => {
    expect(handshakeProblems(hs('POST /ws HTTP/1.0', ['Upgrade: h2c', 'Connection: close']))).toEqual([
      'method is POST, must be GET',
      'HTTP/1.0, must be HTTP/1.1',
      'Upgrade header does not contain "websocket"',
      'Connection header does not contain "Upgrade"',
      'Sec-WebSocket-Version is missing (must be 13)',
      'Sec-WebSocket-Key is missing',
      'Host header is missing',
    ]);
  });

  it('checks the version: one line, 13', () => {
    expect(handshakeProblems(hs('GET / HTTP/1.1', [...without('sec-websocket-version'), 'Sec-WebSocket-Version: 8']))).toEqual([
      'Sec-WebSocket-Version is 8, must be 13',
    ]);
    expect(handshakeProblems(hs('GET / HTTP/1.1', [...VALID, 'Sec-WebSocket-Version: 13']))).toEqual(['Sec-WebSocket-Version is 13, 13, must be 13']);
  });

  it('checks the key: one line, 16 bytes in base64', () => {
    const key = (k: string) => handshakeProblems(hs('GET / HTTP/1.1', [...without('sec-websocket-key'), `Sec-WebSocket-Key: ${k}`]));
    expect(key('AAAAAAAAAAAAAAAAAAAAAA==')).toEqual([]);
    expect(key('a+/9AAAAAAAAAAAAAAAAAA==')).toEqual([]);
    expect(key('AAAAAAAAAAAAAAAAAAAAA==')).toEqual(['Sec-WebSocket-Key is not 16 random bytes in base64']);
    expect(key('AAAAAAAAAAAAAAAAAAAAAAA=')).toEqual(['Sec-WebSocket-Key is not 16 random bytes in base64']);
    expect(key('xAAAAAAAAAAAAAAAAAAAAAA==')).toEqual(['Sec-WebSocket-Key is not 16 random bytes in base64']);
    expect(key('AAAAAAAAAAAAAAAAAAAAAA==x')).toEqual(['Sec-WebSocket-Key is not 16 random bytes in base64']);
    expect(key('AAAAAAAAAAA-AAAAAAAAAA==')).toEqual(['Sec-WebSocket-Key is not 16 random bytes in base64']);
    expect(handshakeProblems(hs('GET / HTTP/1.1', [...VALID, 'Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==']))).toEqual([
      'Sec-WebSocket-Key appears more than once',
    ]);
  });

  it('checks the Host: one line', () => {
    expect(handshakeProblems(hs('GET / HTTP/1.1', [...VALID, 'Host: other']))).toEqual(['Host header appears more than once']);
  });

  it('raises one handshake-invalid finding that lists the problems', () => {
    const [f, ...rest] = inspectHandshakeValidity(hs('PUT / HTTP/1.1', without('host')));
    expect(rest).toEqual([]);
    expect(f).toMatchObject({
      code: 'handshake-invalid',
      severity: 'error',
      message: 'Not a valid WebSocket upgrade: method is PUT, must be GET; Host header is missing.',
    });
    expect(f!.hint).toBe(
      'Browsers and WebSocket libraries send valid upgrades: a hand-written client (curl, a script) or a proxy in between ' +
        'changed the request. Send GET with HTTP/1.1, Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Version: 13 ' +
        'and a fresh base64 Sec-WebSocket-Key.',
    );
    expect(invalidHandshakeFinding(['a', 'b']).message).toBe('Not a valid WebSocket upgrade: a; b.');
  });
});

describe('auth', () => {
  const NOW = Date.UTC(2026, 0, 10, 12, 0, 0);
  const cred = (over: Partial<Credential>): Credential => ({ kind: 'authorization', name: 'Authorization', shape: 'JWT HS256, 120 chars', ...over });
  const withCreds = (credentials: Credential[]): Handshake => ({ ...hs('GET / HTTP/1.1', VALID), credentials });
  const expiredAgo = (seconds: number, over: Partial<Credential> = {}) =>
    inspectAuth(withCreds([cred({ jwt: { expired: true, exp: NOW / 1000 - seconds }, ...over })]), ctx({ now: NOW }));

  it('raises auth-missing when the request carries no credential', () => {
    const [f, ...rest] = inspectAuth(hs('GET / HTTP/1.1', VALID), ctx());
    expect(rest).toEqual([]);
    expect(f).toMatchObject({ code: 'auth-missing', severity: 'warn' });
    expect(f!.message).toBe(
      'No credential in the upgrade request: no Authorization header, no token query parameter, no cookie, no token subprotocol.',
    );
    expect(f!.hint).toContain('Browsers cannot set an Authorization header on a WebSocket');
  });

  it('raises nothing for a credential that is no JWT, or a JWT not expired or without expiry', () => {
    expect(inspectAuth(withCreds([cred({})]), ctx({ now: NOW }))).toEqual([]);
    expect(inspectAuth(withCreds([cred({ jwt: { expired: false, exp: NOW / 1000 + 60 } })]), ctx({ now: NOW }))).toEqual([]);
    expect(inspectAuth(withCreds([cred({ jwt: { expired: true } })]), ctx({ now: NOW }))).toEqual([]);
  });

  it('raises auth-expired with the expiry and how long ago, naming where the token was', () => {
    const [f, ...rest] = expiredAgo(90);
    expect(rest).toEqual([]);
    expect(f).toMatchObject({ code: 'auth-expired', severity: 'warn' });
    expect(f!.message).toBe('The JWT in Authorization expired at 2026-01-10T11:58:30.000Z (90 s ago).');
    expect(f!.hint).toBe(
      'The frontend sent a stale token: refresh it before opening the WebSocket (and on reconnect), or log in again. ' +
        'If the clocks of the frontend and backend containers differ, compare them.',
    );
    expect(expiredAgo(90, { kind: 'query', name: 'access_token' })[0]!.message).toContain('The JWT in query parameter "access_token" expired');
    expect(expiredAgo(90, { kind: 'cookie', name: 'session' })[0]!.message).toContain('The JWT in cookie "session" expired');
    expect(expiredAgo(90, { kind: 'subprotocol', name: 'subprotocol' })[0]!.message).toContain('The JWT in subprotocol expired');
  });

  it('says how long ago in seconds, minutes, hours or days', () => {
    const ago = (s: number) => /\((.*) ago\)/.exec(expiredAgo(s)[0]!.message)![1];
    expect(ago(0)).toBe('0 s');
    expect(ago(119)).toBe('119 s');
    expect(ago(120)).toBe('2 min');
    expect(ago(7199)).toBe('120 min');
    expect(ago(7200)).toBe('2 h');
    expect(ago(172_799)).toBe('48 h');
    expect(ago(172_800)).toBe('2 days');
    expect(ago(10 * 86_400)).toBe('10 days');
    // A clock behind the token: never a negative time.
    expect(ago(-30)).toBe('0 s');
  });

  it('raises one finding per expired token', () => {
    const expired = { expired: true, exp: NOW / 1000 - 10 };
    const out = inspectAuth(withCreds([cred({ jwt: expired }), cred({ kind: 'query', name: 'token', jwt: expired })]), ctx({ now: NOW }));
    expect(out.map((f) => f.code)).toEqual(['auth-expired', 'auth-expired']);
  });
});

describe('origin', () => {
  const withOrigins = (...origins: string[]) => hs('GET / HTTP/1.1', [...VALID, ...origins.map((o) => `Origin: ${o}`)]);
  const policy = (...p: string[]) => p.map(parseOriginPattern);
  const answered = (status: number) => ({ response: parseResponseHead(Buffer.from(`HTTP/1.1 ${status} X\r\n\r\n`)), handshakeMs: 1 });

  it('raises origin-missing without an Origin, and nothing else', () => {
    const out = inspectOrigin(withOrigins(), ctx({ allowOrigins: policy('http://a') }));
    expect(out.map((f) => [f.code, f.severity])).toEqual([['origin-missing', 'info']]);
    expect(out[0]!.message).toBe('No Origin header: the client is not a browser (a script, a CLI such as wscat, a server-side client).');
    expect(out[0]!.hint).toContain('wscat -o http://localhost:3000');
  });

  it('raises nothing for one Origin and no policy', () => {
    expect(inspectOrigin(withOrigins('http://a'), ctx())).toEqual([]);
  });

  it('raises origin-duplicate, saying whether the lines differ and what was forwarded', () => {
    const [f] = inspectOrigin(withOrigins('http://a', 'http://b'), ctx());
    expect(f).toMatchObject({
      code: 'origin-duplicate',
      severity: 'warn',
      message: '2 Origin lines (different): "http://a", "http://b". Forwarded as sent.',
    });
    const hint =
      'A proxy or middleware between the browser and the backend adds an Origin header (nginx proxy_set_header Origin, ' +
      'a dev-server proxy, a framework option). Remove the extra one there. Strict servers (Python websockets, uvicorn) ' +
      'answer 400 "more than one Origin header"; others use the first or the last line. ';
    expect(f!.hint).toBe(`${hint}Meanwhile, wstap --normalize-origin forwards only the first line.`);
    const [n] = inspectOrigin(withOrigins('http://a', 'http://a', 'http://a'), ctx({ normalizeOrigin: true }));
    expect(n!.message).toBe('3 Origin lines (identical): "http://a", "http://a", "http://a". Normalised: only the first, "http://a", was forwarded.');
    expect(n!.hint).toBe(hint);
  });

  it('raises origin-disallowed once per Origin outside the policy, naming the policy', () => {
    const out = inspectOrigin(withOrigins('http://evil', 'http://evil', 'http://ok'), ctx({ allowOrigins: policy('http://ok', 'http://*.example') }));
    expect(out.map((f) => f.code)).toEqual(['origin-duplicate', 'origin-disallowed']);
    expect(out[1]).toMatchObject({
      severity: 'warn',
      message: 'Origin "http://evil" matches none of the allowed origins (http://ok, http://*.example).',
    });
    expect(out[1]!.hint).toBe(
      'Add "http://evil" to the backend\'s allowed origins (its CORS / WebSocket origin list, e.g. CORS_ORIGINS), ' +
        'or open the frontend at an origin that is already allowed. In Docker, the origin is what the browser shows in ' +
        'its address bar (http://localhost:3000), not the service name.',
    );
    expect(inspectOrigin(withOrigins('http://ok'), ctx({ allowOrigins: policy('http://ok') }))).toEqual([]);
  });

  it('says the backend accepted an Origin outside the policy when it answered 101', () => {
    const out = inspectOrigin(withOrigins('http://evil'), ctx({ allowOrigins: policy('http://ok'), answer: answered(101) }));
    expect(out).toHaveLength(1);
    expect(out[0]!.code).toBe('origin-disallowed');
    expect(out[0]!.message).toBe(
      'The backend accepted the Origin "http://evil", which your expected policy (--allow-origin http://ok) does not list.',
    );
    expect(out[0]!.hint).toBe(
      'Not an error of the backend: its allowed origins are wider than your policy. If "http://evil" should not reach it, ' +
        "remove it from the backend's allowed origins (its CORS / WebSocket origin list); if it should, add it to --allow-origin.",
    );
    const refused = inspectOrigin(withOrigins('http://evil'), ctx({ allowOrigins: policy('http://ok'), answer: answered(403) }));
    expect(refused[0]!.message).toBe('Origin "http://evil" matches none of the allowed origins (http://ok).');
  });
});
