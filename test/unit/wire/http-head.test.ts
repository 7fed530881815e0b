import { describe, expect, it } from 'vitest';
import {
  headEnd,
  headerList,
  headerValues,
  HeadParseError,
  parseRequestHead,
  parseResponseHead,
  requestHeadFromRaw,
  withoutLines,
} from '../../../src/wire/http-head.js';

const raw = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('parseRequestHead', () => {
  it('keeps names in their case, in order, duplicates included', () => {
    const h = parseRequestHead(raw('GET /ws?x=1 HTTP/1.1\r\nHost: a\r\norigin: http://a\r\nOrigin:http://b  \r\nX-Y: 1\r\n\r\n'));
    expect(h.method).toBe('GET');
    expect(h.target).toBe('/ws?x=1');
    expect(h.version).toBe('1.1');
    expect(h.headers.map((x) => x.name)).toEqual(['Host', 'origin', 'Origin', 'X-Y']);
    expect(headerValues(h.headers, 'ORIGIN')).toEqual(['http://a', 'http://b']);
  });

  it('rejects obs-fold, bare LF, names with spaces and NUL in values', () => {
    expect(() => parseRequestHead(raw('GET / HTTP/1.1\r\nX: a\r\n  b\r\n\r\n'))).toThrow(/folding/);
    expect(() => parseRequestHead(raw('GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n'))).toThrow(HeadParseError);
    expect(() => parseRequestHead(raw('GET / HTTP/1.1\r\nOrigin : x\r\n\r\n'))).toThrow(/invalid header name/);
    expect(() => parseRequestHead(raw('GET / HTTP/1.1\r\nX: a\0b\r\n\r\n'))).toThrow(/invalid character/);
    expect(() => parseRequestHead(raw('GET  / HTTP/1.1\r\n\r\n'))).toThrow(/request line/);
    expect(() => parseRequestHead(raw('GET / HTTP/1.1\r\nnocolon\r\n\r\n'))).toThrow(/colon/);
  });

  it('finds the end of a head only after CRLF CRLF', () => {
    expect(headEnd(raw('GET / HTTP/1.1\r\nHost: a\r\n'))).toBe(-1);
    expect(headEnd(raw('GET / HTTP/1.1\r\n\r\nxyz'))).toBe(18);
  });
});

describe('withoutLines', () => {
  it('cuts exactly the given lines and leaves every other byte', () => {
    const text = 'GET / HTTP/1.1\r\nOrigin: a\r\nHost:  h \r\norigin: b\r\nOrigin: c\r\n\r\n';
    const h = parseRequestHead(raw(text));
    const origins = h.headers.filter((x) => x.name.toLowerCase() === 'origin');
    expect(withoutLines(h.raw, origins.slice(1)).toString('latin1')).toBe('GET / HTTP/1.1\r\nOrigin: a\r\nHost:  h \r\n\r\n');
  });
});

describe('parseResponseHead', () => {
  it('reads status, reason and list headers', () => {
    const r = parseResponseHead(raw('HTTP/1.1 101 Switching Protocols\r\nConnection: keep-alive, Upgrade\r\n\r\n'));
    expect(r.status).toBe(101);
    expect(r.reason).toBe('Switching Protocols');
    expect(headerList(r.headers, 'connection')).toEqual(['keep-alive', 'Upgrade']);
  });
  it('accepts a status line without a reason', () => {
    expect(parseResponseHead(raw('HTTP/1.1 403\r\n\r\n')).reason).toBe('');
  });
  it('rejects a malformed status line', () => {
    expect(() => parseResponseHead(raw('HTTP/1.1 abc\r\n\r\n'))).toThrow(/status line/);
  });
});

describe('requestHeadFromRaw', () => {
  it('rebuilds a head from Node rawHeaders with case, order and duplicates', () => {
    const h = requestHeadFromRaw('GET', '/ws', '1.1', ['Host', 'a', 'origin', 'x', 'Origin', 'y']);
    expect(h.raw.toString('latin1')).toBe('GET /ws HTTP/1.1\r\nHost: a\r\norigin: x\r\nOrigin: y\r\n\r\n');
  });
});
