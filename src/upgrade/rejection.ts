/**
 * A backend's answer that is not a 101: relayed to the client as it came (head and body),
 * with the start of the body kept for the findings ("Origin not allowed"), then both
 * connections are closed.
 */
import type net from 'node:net';
import type { UpstreamAnswer } from '../session/session.js';
import { headerValue } from '../wire/http-head.js';
import { endAndLinger } from './responses.js';

/** How much of a rejection body is kept for the log. */
export const BODY_EXCERPT = 1024;

/** The data of a chunked body (as much of it as the excerpt holds); chunk extensions and trailers are dropped. */
export function dechunk(raw: Buffer): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < raw.length) {
    const eol = raw.indexOf('\r\n', pos);
    if (eol < 0) break;
    const size = Number.parseInt(raw.subarray(pos, eol).toString('latin1').split(';')[0]!.trim(), 16);
    if (!Number.isFinite(size) || size === 0) break;
    const start = eol + 2;
    out.push(raw.subarray(start, Math.min(raw.length, start + size)));
    pos = start + size + 2;
  }
  return Buffer.concat(out);
}

/**
 * Streams the answer's head and body to the client; `rest` holds body bytes that came with the
 * head. Calls done once, with the answer and its body excerpt, when the body is complete, the
 * backend closes, the client goes, or timeoutMs passes; both sockets are closed by then.
 */
export function relayRejection(
  client: net.Socket,
  upstream: net.Socket,
  answer: UpstreamAnswer,
  rest: Buffer,
  timeoutMs: number,
  done: (answer: UpstreamAnswer) => void,
): void {
  const res = answer.response;
  const length = Number(headerValue(res.headers, 'content-length') ?? Number.NaN);
  const chunked = /chunked/i.test(headerValue(res.headers, 'transfer-encoding') ?? '');
  const excerpt: Buffer[] = [];
  let excerptLen = 0;
  let bodyBytes = 0;
  let tail = '';
  let closed = false;
  client.on('error', () => {});
  upstream.on('error', () => {});
  client.write(res.raw);
  const close = (): void => {
    if (closed) return;
    closed = true;
    clearTimeout(bodyTimer);
    const body = Buffer.concat(excerpt);
    endAndLinger(client);
    upstream.destroy();
    done({ ...answer, bodyExcerpt: (chunked ? dechunk(body) : body).toString('utf8') });
  };
  const onBody = (chunk: Buffer): void => {
    bodyBytes += chunk.length;
    client.write(chunk);
    if (excerptLen < BODY_EXCERPT) {
      excerpt.push(chunk.subarray(0, BODY_EXCERPT - excerptLen));
      excerptLen += Math.min(chunk.length, BODY_EXCERPT - excerptLen);
    }
    tail = (tail + chunk.subarray(-5).toString('latin1')).slice(-5);
    if ((!chunked && Number.isFinite(length) && bodyBytes >= length) || (chunked && tail === '0\r\n\r\n')) close();
  };
  const bodyTimer = setTimeout(close, timeoutMs);
  upstream.on('data', onBody);
  upstream.on('end', close);
  upstream.on('close', close);
  client.on('close', close);
  upstream.resume();
  if (rest.length) onBody(rest);
  else if (!chunked && (length === 0 || res.status === 304 || res.status === 204)) close();
}
