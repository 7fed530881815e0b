/**
 * The validation of a backend's 101 (src/inspect/answer.ts): which answers may become a tunnel,
 * the reasons given for one that may not, and the finding a user reads.
 */
import { describe, expect, it } from 'vitest';
import { acceptProblems, expectedAccept, inspectAnswer } from '../../../src/inspect/answer.js';
import { answerOf, readHandshake } from '../../../src/upgrade/handshake.js';
import { parseRequestHead, parseResponseHead } from '../../../src/wire/http-head.js';

/** The key and accept of RFC 6455 section 1.3. */
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

const request = (key: string | null = KEY) =>
  readHandshake(
    parseRequestHead(
      Buffer.from(
        `GET /ws HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${key === null ? '' : `Sec-WebSocket-Key: ${key}\r\n`}Sec-WebSocket-Version: 13\r\n\r\n`,
      ),
    ),
    'wire',
    0,
  );
const answer = (status: string, lines: string[]) =>
  answerOf(parseResponseHead(Buffer.from(`HTTP/1.1 ${status}\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`)), 5);
const GOOD = ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${ACCEPT}`];

describe('expectedAccept', () => {
  it('is the SHA-1 of the key and the GUID of RFC 6455, in base64', () => {
    expect(expectedAccept(KEY)).toBe(ACCEPT);
  });
});

describe('acceptProblems', () => {
  it('finds none in a valid answer, however its tokens are written', () => {
    expect(acceptProblems(request(), answer('101 Switching Protocols', GOOD))).toEqual([]);
    expect(
      acceptProblems(
        request(),
        answer('101 Switching Protocols', ['upgrade: WebSocket', 'connection: keep-alive, upgrade', `sec-websocket-accept: ${ACCEPT}`]),
      ),
    ).toEqual([]);
  });

  it('names every missing part', () => {
    expect(acceptProblems(request(), answer('101 Switching Protocols', []))).toEqual([
      'no "Upgrade: websocket"',
      'no "Connection: Upgrade"',
      'no Sec-WebSocket-Accept',
    ]);
    expect(
      acceptProblems(request(), answer('101 Switching Protocols', ['Upgrade: h2c', 'Connection: close', `Sec-WebSocket-Accept: ${ACCEPT}`])),
    ).toEqual(['no "Upgrade: websocket"', 'no "Connection: Upgrade"']);
  });

  it('refuses two accept lines, and a wrong accept with the one expected', () => {
    expect(acceptProblems(request(), answer('101 Switching Protocols', [...GOOD, `Sec-WebSocket-Accept: ${ACCEPT}`]))).toEqual([
      'more than one Sec-WebSocket-Accept',
    ]);
    expect(
      acceptProblems(request(), answer('101 Switching Protocols', ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Accept: AAAA'])),
    ).toEqual([`Sec-WebSocket-Accept is "AAAA", expected "${ACCEPT}"`]);
  });

  it('computes the expected accept from an empty key when the request had none', () => {
    const empty = expectedAccept('');
    expect(empty).not.toBe(ACCEPT);
    expect(
      acceptProblems(
        request(null),
        answer('101 Switching Protocols', ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${empty}`]),
      ),
    ).toEqual([]);
    expect(acceptProblems(request(null), answer('101 Switching Protocols', GOOD))).toEqual([
      `Sec-WebSocket-Accept is "${ACCEPT}", expected "${empty}"`,
    ]);
  });
});

describe('inspectAnswer', () => {
  it('says why an invalid 101 was not tunnelled', () => {
    const out = inspectAnswer(request(), answer('101 Switching Protocols', ['Upgrade: websocket']));
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({
      code: 'upgrade-accept-invalid',
      severity: 'error',
      message:
        'The backend answered 101 but the handshake is invalid (no "Connection: Upgrade"; no Sec-WebSocket-Accept): wstap relayed the answer and did not open a tunnel.',
    });
    expect(out[0]!.hint).toBe(
      'A real WebSocket server computes Sec-WebSocket-Accept from the key. Something else answered: a misconfigured proxy, ' +
        'a hand-written endpoint, or an attempt at request smuggling.',
    );
  });

  it('raises no accept finding for a valid 101', () => {
    expect(inspectAnswer(request(), answer('101 Switching Protocols', GOOD)).map((f) => f.code)).not.toContain('upgrade-accept-invalid');
  });

  it('explains a refusal instead of checking an accept', () => {
    const out = inspectAnswer(request(), answer('403 Forbidden', []));
    expect(out).toHaveLength(1);
    expect(out[0]!.code).not.toBe('upgrade-accept-invalid');
    expect(out[0]!.message).toContain('403');
  });
});
