/**
 * The edges of the redaction and the credential detection (src/secrets/): a separator at the
 * first position, a value without one, the headers redacted as a target, the prefilter that
 * lets the recorder skip the redaction (it must say yes whenever the redaction would change
 * something), the facts read from a JWT, and redactDeep over structures. Every token here is
 * built at run time.
 */
import { describe, expect, it } from 'vitest';
import { cookieNames, decodeJwt, findCredentials, queryParams, tokenSubprotocolIndexes } from '../../../src/secrets/credentials.js';
import { redactDeep, redactText } from '../../../src/secrets/free-text.js';
import {
  payloadMayHoldSecret,
  REDACTED,
  redactChosenProtocol,
  redactHeaderValue,
  redactJwts,
  redactPayloadText,
  redactResponseHeaders,
  redactTarget,
  utf8Prefix,
} from '../../../src/secrets/redact.js';
import { parseRequestHead } from '../../../src/wire/http-head.js';

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
/** A JWT-shaped value with the given header and claims (signature "sig-part"). */
const jwtOf = (header: unknown, claims: unknown): string => `${b64(header)}.${b64(claims)}.sig-part`;
const JWT = jwtOf({ alg: 'HS256' }, { sub: 'u1', exp: 2_000_000_000 });
const SHAPE = ['abcdefgh', 'ijklmnop', 'qrstuvwx'].join('.');

describe('redactTarget', () => {
  it('redacts a query that starts the target', () => {
    expect(redactTarget('?token=abc')).toBe(`?token=${REDACTED}`);
    expect(redactTarget('?room=1')).toBe('?room=1');
  });

  it('leaves a parameter without a value alone, and redacts a JWT after a bare =', () => {
    expect(redactTarget('/ws?tokenx&a=1')).toBe('/ws?tokenx&a=1');
    expect(redactTarget('/ws?token')).toBe('/ws?token');
    expect(redactTarget(`/ws?=${SHAPE}`)).toBe(`/ws?=${REDACTED}`);
    expect(redactTarget(`/ws/${SHAPE}/x`)).toBe(`/ws/${REDACTED}/x`);
  });
});

describe('redactHeaderValue', () => {
  it('redacts every cookie value, a nameless one too', () => {
    expect(redactHeaderValue('Cookie', 'a=1; b=2;flag')).toBe(`a=${REDACTED}; b=${REDACTED};flag`);
    expect(redactHeaderValue('cookie', '=secret')).toBe(`=${REDACTED}`);
  });

  it('redacts the value of a Set-Cookie and keeps its attributes', () => {
    expect(redactHeaderValue('Set-Cookie', 'sid=abc; Path=/; HttpOnly')).toBe(`sid=${REDACTED}; Path=/; HttpOnly`);
    expect(redactHeaderValue('Set-Cookie', 'sid=abc')).toBe(`sid=${REDACTED}`);
    expect(redactHeaderValue('Set-Cookie', 'flag; Path=/')).toBe('flag; Path=/');
    expect(redactHeaderValue('Set-Cookie', 'flag')).toBe('flag');
    expect(redactHeaderValue('Set-Cookie', '=abc; Path=/')).toBe(`=${REDACTED}; Path=/`);
    expect(redactHeaderValue('set-cookie', ';x=1')).toBe(';x=1');
  });

  it('keeps the scheme of an Authorization, even an empty one', () => {
    expect(redactHeaderValue('Authorization', 'Bearer abc')).toBe(`Bearer ${REDACTED}`);
    expect(redactHeaderValue('Proxy-Authorization', 'abc')).toBe(REDACTED);
    expect(redactHeaderValue('Authorization', ' abc')).toBe(` ${REDACTED}`);
  });

  it('redacts a Referer and a Location as a target, and no other header', () => {
    expect(redactHeaderValue('Referer', 'http://a/p?token=abc&x=1')).toBe(`http://a/p?token=${REDACTED}&x=1`);
    expect(redactHeaderValue('location', 'http://a/p?access_token=abc')).toBe(`http://a/p?access_token=${REDACTED}`);
    expect(redactHeaderValue('X-Link', 'http://a/p?token=abc')).toBe('http://a/p?token=abc');
    expect(redactHeaderValue('X-Api-Key', 'k')).toBe(REDACTED);
  });
});

describe('redactChosenProtocol and redactResponseHeaders', () => {
  it('redacts a chosen subprotocol that is a token, offered or not', () => {
    expect(redactChosenProtocol(['chat'], SHAPE)).toBe(REDACTED);
    expect(redactChosenProtocol([SHAPE, 'chat'], SHAPE)).toBe(REDACTED);
    expect(redactChosenProtocol(['chat', 'mqtt'], 'mqtt')).toBe('mqtt');
  });

  it('judges a chosen entry among the offered ones: after a marker it is a token', () => {
    expect(redactChosenProtocol(['access_token', 'opaque123'], 'opaque123')).toBe(REDACTED);
    expect(redactChosenProtocol(['opaque123', 'access_token'], 'opaque123')).toBe('opaque123');
    expect(redactChosenProtocol([], 'opaque123')).toBe('opaque123');
  });

  it('redacts the headers of an answer, the chosen subprotocol among the offered ones', () => {
    expect(
      redactResponseHeaders(
        [
          { name: 'Sec-WebSocket-Protocol', value: 'opaque123' },
          { name: 'Set-Cookie', value: 'sid=abc' },
          { name: 'Server', value: 'x' },
        ],
        ['bearer', 'opaque123'],
      ),
    ).toEqual([
      { name: 'Sec-WebSocket-Protocol', value: REDACTED },
      { name: 'Set-Cookie', value: `sid=${REDACTED}` },
      { name: 'Server', value: 'x' },
    ]);
    expect(redactResponseHeaders([{ name: 'sec-websocket-protocol', value: 'opaque123' }], ['chat', 'opaque123'])).toEqual([
      { name: 'sec-websocket-protocol', value: 'opaque123' },
    ]);
  });
});

describe('payloadMayHoldSecret', () => {
  const may = (s: string): boolean => payloadMayHoldSecret(Buffer.from(s, 'utf8'));

  it('says yes for a JWT-shaped run, at the start or later', () => {
    expect(may(SHAPE)).toBe(true);
    expect(may(`x ${SHAPE}`)).toBe(true);
    expect(may('abcdefgh.')).toBe(true);
  });

  it('says no for a dot after fewer than eight token characters, or after other characters', () => {
    expect(may('abcdefg.hijklmnop')).toBe(false);
    expect(may('abc defgh.ijk')).toBe(false);
    expect(may('é€abcdef.xyz')).toBe(false);
    expect(may('a.b.c and plain words.')).toBe(false);
  });

  it('says yes for a JSON key with a secret word, whatever is between it and the colon', () => {
    expect(may('{"password":"x"}')).toBe(true);
    expect(may('{"api_key" : 1}')).toBe(true);
    expect(may('{"myToken"\t:')).toBe(true);
    expect(may('{"session_id"\n\r:')).toBe(true);
    expect(may('{"secret"\u00a0:')).toBe(true);
    expect(may('"jwt":')).toBe(true);
    // U+2000 is a space to \\s; its UTF-8 bytes are e2 80 80.
    expect(may('{"token"\u2000:"x"}')).toBe(true);
  });

  it('says no for other keys, for a colon without a quoted key, and for a secret word outside a key', () => {
    expect(may('{"id":1,"name":"token"}')).toBe(false);
    expect(may('token: abc')).toBe(false);
    expect(may('"x" "token":')).toBe(true);
    expect(may('token":1')).toBe(false);
    expect(may('":1')).toBe(false);
    expect(may('{"a"\u000b:1}')).toBe(false);
    expect(may('{"password"x:1}')).toBe(false);
    expect(may('{"passwor":1}')).toBe(false);
    expect(may(':')).toBe(false);
  });

  it('never says no when the redaction changes the text', () => {
    const texts = [
      '{"token":"abc"}',
      '{"auth": {"password" :"p"}}',
      `{"jwt":"${JWT}"}`,
      `prefix ${JWT} suffix`,
      '{"a"\t\u2028:"b","refresh_token"  :"zz"}',
      '{"x":"y"} {"cookie":"c"}',
      '{"token"\u2000:"x"}',
    ];
    for (const t of texts) {
      expect(redactPayloadText(t)).not.toBe(t);
      expect(may(t)).toBe(true);
    }
  });
});

describe('redactJwts and utf8Prefix', () => {
  it('redacts a JWT shape only after a non-token character', () => {
    expect(redactJwts(`a ${SHAPE} b`)).toBe(`a ${REDACTED} b`);
    expect(redactJwts('short.abc.def')).toBe('short.abc.def');
  });

  it('cuts on a character boundary', () => {
    const buf = Buffer.from('aé€', 'utf8');
    expect(utf8Prefix(buf, 10)).toBe(buf);
    expect(utf8Prefix(buf, 6).toString('utf8')).toBe('aé€');
    expect(utf8Prefix(buf, 5).toString('utf8')).toBe('aé');
    expect(utf8Prefix(buf, 4).toString('utf8')).toBe('aé');
    expect(utf8Prefix(buf, 2).toString('utf8')).toBe('a');
    expect(utf8Prefix(buf, 1).toString('utf8')).toBe('a');
    expect(utf8Prefix(buf, 0)).toHaveLength(0);
    expect(utf8Prefix(Buffer.from('€'), 1)).toHaveLength(0);
    // Continuation bytes from the start: nothing is a whole character.
    expect(utf8Prefix(Buffer.from([0x80, 0x80, 0x80]), 2)).toHaveLength(0);
  });
});

describe('decodeJwt', () => {
  it('reads alg, iat and exp, and calls an exp equal to now expired', () => {
    const jwt = jwtOf({ alg: 'RS256' }, { iat: 100, exp: 200 });
    expect(decodeJwt(jwt, 200_000)).toEqual({ alg: 'RS256', iat: 100, exp: 200, expired: true });
    expect(decodeJwt(jwt, 199_999)).toEqual({ alg: 'RS256', iat: 100, exp: 200, expired: false });
  });

  it('leaves out what is not there or not of its type', () => {
    expect(decodeJwt(jwtOf({ typ: 'JWT' }, { sub: 'a' }), 0)).toEqual({ expired: false });
    expect(decodeJwt(jwtOf({ alg: 1 }, { iat: '1', exp: '2' }), 0)).toEqual({ expired: false });
  });

  it('is undefined when a part is no JSON object', () => {
    expect(decodeJwt(`${b64('str')}.${b64({ a: 1 })}.sig`, 0)).toBeUndefined();
    expect(decodeJwt(`${b64({ a: 1 })}.${b64(null)}.sig`, 0)).toBeUndefined();
    expect(decodeJwt(`${b64(null)}.${b64({ a: 1 })}.sig`, 0)).toBeUndefined();
    expect(decodeJwt(`${b64({ a: 1 })}.${b64(5)}.sig`, 0)).toBeUndefined();
    expect(decodeJwt(`${b64({ a: 1 })}.bm90IGpzb24.sig`, 0)).toBeUndefined();
    expect(decodeJwt(`${b64({ a: 1 })}.${b64({ a: 1 })}`, 0)).toBeUndefined();
  });
});

describe('findCredentials, edges', () => {
  const headers = (lines: string[]) =>
    parseRequestHead(Buffer.from(`GET / HTTP/1.1\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`, 'latin1')).headers;

  it('describes an Authorization without a scheme, a Basic one in either case, a JWT, and a credential after several spaces', () => {
    const creds = findCredentials(
      '/',
      headers([
        'Authorization: opaquevalue',
        'Authorization: Basic',
        'Authorization: Basic dXNlcjpw',
        'Authorization: basic x',
        `Proxy-Authorization: Bearer  ${JWT} `,
      ]),
      0,
    );
    expect(creds).toEqual([
      { kind: 'authorization', name: 'Authorization', shape: 'no scheme, 11 chars' },
      { kind: 'authorization', name: 'Authorization', shape: 'Basic, 0 chars' },
      { kind: 'authorization', name: 'Authorization', scheme: 'Basic', shape: 'Basic, 8 chars' },
      { kind: 'authorization', name: 'Authorization', scheme: 'basic', shape: 'Basic, 1 chars' },
      {
        kind: 'authorization',
        name: 'Proxy-Authorization',
        scheme: 'Bearer',
        shape: `JWT HS256, ${JWT.length} chars, expires 2033-05-18T03:33:20.000Z`,
        jwt: { alg: 'HS256', exp: 2_000_000_000, expired: false },
      },
    ]);
    // A Basic credential is never read as a JWT, whatever its shape.
    expect(findCredentials('/', headers([`Authorization: basic ${JWT}`]), 0)).toEqual([
      { kind: 'authorization', name: 'Authorization', scheme: 'basic', shape: `Basic, ${JWT.length} chars` },
    ]);
    expect(findCredentials('/', headers(['Authorization: Bearer   abc']), 0)).toEqual([
      { kind: 'authorization', name: 'Authorization', scheme: 'Bearer', shape: 'opaque, 3 chars' },
    ]);
  });

  it('names each cookie, a valueless one too, and skips empty parts', () => {
    const creds = findCredentials('/', headers(['Cookie: =v; a=12345 ; flag;  ; =v; b = x']), 0);
    expect(creds).toEqual([
      { kind: 'cookie', name: 'a', shape: 'opaque, 5 chars' },
      { kind: 'cookie', name: 'flag', shape: 'empty' },
      { kind: 'cookie', name: 'b', shape: 'opaque, 1 chars' },
    ]);
  });

  it('reads a JWT without alg or exp in a query parameter', () => {
    const jwt = jwtOf({ typ: 'JWT' }, { sub: 'a' });
    expect(findCredentials(`/?token=${jwt}`, [], 0)).toEqual([
      { kind: 'query', name: 'token', shape: `JWT, ${jwt.length} chars, no exp`, jwt: { expired: false } },
    ]);
  });

  it('reads the token of a Kubernetes bearer subprotocol, and skips empty entries', () => {
    const k8s = `base64url.bearer.authorization.k8s.io.${Buffer.from('abcdef').toString('base64url')}`;
    const creds = findCredentials('/', headers([`Sec-WebSocket-Protocol: , ${k8s}, v4.channel.k8s.io`]), 0);
    expect(creds).toEqual([{ kind: 'subprotocol', name: 'Sec-WebSocket-Protocol', shape: 'opaque, 6 chars' }]);
    // An empty entry between a marker and its token does not hide the token.
    expect(findCredentials('/', headers(['Sec-WebSocket-Protocol: token, , abc']), 0)).toEqual([
      { kind: 'subprotocol', name: 'Sec-WebSocket-Protocol', shape: 'opaque, 3 chars' },
    ]);
  });
});

describe('queryParams, cookieNames, tokenSubprotocolIndexes', () => {
  it('reads the query of a target, none without a ?', () => {
    expect(queryParams('/ws')).toEqual([]);
    expect(queryParams('?a=1&b=%20')).toEqual([
      ['a', '1'],
      ['b', ' '],
    ]);
    expect(queryParams('/ws?')).toEqual([]);
  });

  it('names the cookies of a Cookie header', () => {
    expect(cookieNames(' a=1;b ; =x;; c=2=3')).toEqual(['a', 'b', 'c']);
    expect(cookieNames('')).toEqual([]);
  });

  it('takes a marker as first entry for no token', () => {
    expect([...tokenSubprotocolIndexes(['token'])]).toEqual([]);
    expect([...tokenSubprotocolIndexes(['chat', 'token', 'abc'])]).toEqual([2]);
  });
});

describe('redactText, edges', () => {
  it('leaves texts shorter than eight characters as they are, and redacts from eight on', () => {
    expect(redactText('k=v')).toBe('k=v');
    expect(redactText('sid=abc')).toBe('sid=abc');
    expect(redactText('sid=abcd')).toBe(`sid=${REDACTED}`);
  });

  it('redacts a URL parameter only when its name is a credential’s', () => {
    expect(redactText('see /p?a=1;sid=ABC1 now')).toBe(`see /p?a=1;sid=${REDACTED} now`);
    expect(redactText('see x?room=12&page=2 now')).toBe('see x?room=12&page=2 now');
    expect(redactText('see x?token=12&page=2 now')).toBe(`see x?token=${REDACTED}&page=2 now`);
  });

  it('drops every query value of a quoted request line, keeping bare names', () => {
    expect(redactText('"GET /ws?room=1&flag&token=abc HTTP/1.1"')).toBe(`"GET /ws?room=${REDACTED}&flag&token=${REDACTED} HTTP/1.1"`);
    expect(redactText('"GET /ws?=abc HTTP/1.1"')).toBe(`"GET /ws?=${REDACTED} HTTP/1.1"`);
  });

  it('redacts a named pair only when its name is a credential’s', () => {
    expect(redactText('failed: password=hunter22, user=bob')).toBe(`failed: password=${REDACTED}, user=bob`);
    expect(redactText('the room=12345 is full')).toBe('the room=12345 is full');
  });

  it('returns the very string it was given when nothing changed', () => {
    const s = 'a long text without any secret at all';
    expect(redactText(s)).toBe(s);
  });
});

describe('redactDeep', () => {
  it('redacts strings in plain objects and arrays, keys and other values kept', () => {
    expect(
      redactDeep({ 'password=abcdefgh': 'password=abcdefgh', n: 1, z: null, list: ['token=abcdefgh', true], nested: { a: 'Bearer abcdefghij' } }),
    ).toEqual({
      'password=abcdefgh': `password=${REDACTED}`,
      n: 1,
      z: null,
      list: [`token=${REDACTED}`, true],
      nested: { a: `Bearer ${REDACTED}` },
    });
    expect(redactDeep(undefined)).toBeUndefined();
    expect(redactDeep({ u: undefined, n: 0, b: false })).toEqual({ u: undefined, n: 0, b: false });
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { s: 'token=abcdefgh' });
    expect(redactDeep(bare)).toEqual({ s: `token=${REDACTED}` });
  });

  it('leaves buffers and class instances as they are, and lets nothing deeper than 33 levels out unredacted', () => {
    const buf = Buffer.from('token=abcdefgh');
    expect(redactDeep(buf)).toBe(buf);
    const date = new Date(0);
    expect(redactDeep({ date }).date).toBe(date);
    class Box {
      s = 'token=abcdefgh';
    }
    const box = new Box();
    expect(redactDeep([box])[0]).toBe(box);

    const nest = (levels: number): unknown => (levels === 0 ? 'token=abcdefgh' : { n: nest(levels - 1) });
    const dig = (v: unknown, levels: number): unknown => (levels === 0 ? v : dig((v as { n: unknown }).n, levels - 1));
    expect(dig(redactDeep(nest(33)), 33)).toBe(`token=${REDACTED}`);
    // What lies deeper is not walked: it is replaced as a whole.
    expect(dig(redactDeep(nest(34)), 33)).toBe(REDACTED);
    const arr = (levels: number): unknown => (levels === 0 ? 'token=abcdefgh' : [arr(levels - 1)]);
    const digA = (v: unknown, levels: number): unknown => (levels === 0 ? v : digA((v as unknown[])[0], levels - 1));
    expect(digA(redactDeep(arr(33)), 33)).toBe(`token=${REDACTED}`);
    expect(digA(redactDeep(arr(34)), 33)).toBe(REDACTED);
    expect(JSON.stringify(redactDeep(nest(60)))).not.toContain('abcdefgh');
  });
});

describe('path parameters (/p;jsessionid=...)', () => {
  it('redacts a session id carried as a path parameter, in a target and in free text', () => {
    expect(redactTarget('/app;jsessionid=ABCDEF123456?room=1')).toBe(`/app;jsessionid=${REDACTED}?room=1`);
    expect(redactTarget('/app;jsessionid=ABCDEF123456')).toBe(`/app;jsessionid=${REDACTED}`);
    expect(redactTarget('/app;v=2/ws;sid=ABCDEF123456')).toBe(`/app;v=2/ws;sid=${REDACTED}`);
    expect(redactText('see /p;jsessionid=ABC1 now')).toBe(`see /p;jsessionid=${REDACTED} now`);
    expect(redactText('x /p;sid=ABC1 now')).toBe(`x /p;sid=${REDACTED} now`);
    expect(redactText('GET /shop;PHPSESSID=abc123def HTTP/1.1')).toBe(`GET /shop;PHPSESSID=${REDACTED} HTTP/1.1`);
  });

  it('leaves other path parameters and semicolons in prose alone', () => {
    expect(redactTarget('/app;v=2/ws')).toBe('/app;v=2/ws');
    expect(redactText('one; two; three=3')).toBe('one; two; three=3');
  });
});
