/**
 * Shared setup of the fidelity tests (test/behaviour/fidelity-*.test.ts): a raw backend
 * behind a test proxy, and byte-for-byte comparisons of what went in at one end of the
 * proxy and came out at the other. Closed after the test (cleanup.ts).
 */
import { expect } from 'vitest';
import {
  openRawClient,
  proxyInFront,
  startRawBackend,
  switchingHead,
  upgradeHead,
  type RawBackend,
  type RawConnection,
  type TestProxy,
} from './helpers.js';

/** A raw backend (scripted by onConnection) behind a test proxy. */
export async function setup(
  opts: { normalizeOrigin?: boolean; onConnection?: (c: RawConnection) => void } = {},
): Promise<{ backend: RawBackend; tp: TestProxy }> {
  return proxyInFront(await startRawBackend(opts.onConnection), { normalizeOrigin: opts.normalizeOrigin ?? false });
}

export const atLeast = (n: number) => (b: Buffer) => b.length >= n;

/** Byte equality with a readable diff for small buffers. */
export function expectSameBytes(actual: Buffer, expected: Buffer): void {
  if (actual.length <= 8192 && expected.length <= 8192) expect(actual.toString('latin1')).toBe(expected.toString('latin1'));
  expect(actual.length).toBe(expected.length);
  expect(actual.equals(expected)).toBe(true);
}

export const bin = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Header lines of a head as [name, value] pairs (names as sent, values trimmed). */
export function headerPairs(head: Buffer | string): [string, string][] {
  const text = typeof head === 'string' ? head : head.toString('latin1');
  const lines = text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n').slice(1);
  return lines.map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i), l.slice(i + 1).trim()];
  });
}
export const valuesOf = (pairs: [string, string][], name: string): string[] =>
  pairs.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);

export interface OpenTunnel {
  client: RawConnection;
  conn: RawConnection;
  request: Buffer;
  response: Buffer;
}

/** Client upgrade through the proxy, backend answers; both heads already checked byte for byte. */
export async function openTunnel(
  tp: TestProxy,
  backend: RawBackend,
  request: Buffer | string = upgradeHead('/ws'),
  response: Buffer | string = switchingHead(),
): Promise<OpenTunnel> {
  const req = typeof request === 'string' ? bin(request) : request;
  const res = typeof response === 'string' ? bin(response) : response;
  const client = await openRawClient(tp.port);
  const index = backend.connections.length;
  client.socket.write(req);
  const conn = await backend.connection(index);
  expectSameBytes(await conn.waitFor(atLeast(req.length)), req);
  conn.socket.write(res);
  expectSameBytes(await client.waitFor(atLeast(res.length)), res);
  return { client, conn, request: req, response: res };
}
