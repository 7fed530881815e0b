import { findCredentials } from '../secrets/credentials.js';
import { headerList, headerValues, type RequestHead } from '../wire/http-head.js';
import type { Handshake } from '../session/session.js';

/** The facts of a client's upgrade request, read once from its head. */
export function readHandshake(request: RequestHead, headSource: Handshake['headSource'], nowMs: number): Handshake {
  return {
    request,
    headSource,
    origins: headerValues(request.headers, 'origin'),
    credentials: findCredentials(request.target, request.headers, nowMs),
    offeredProtocols: headerList(request.headers, 'sec-websocket-protocol'),
    offeredExtensions: headerValues(request.headers, 'sec-websocket-extensions'),
  };
}
