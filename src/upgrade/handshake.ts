/** The two halves of a handshake as records: the client's request and the backend's answer. */
import { findCredentials } from '../secrets/credentials.js';
import type { Handshake, UpstreamAnswer } from '../session/session.js';
import { headerList, headerValue, headerValues, type RequestHead, type ResponseHead } from '../wire/http-head.js';

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

/** The backend's answer head, with the subprotocol and extensions it chose. */
export function answerOf(response: ResponseHead, handshakeMs: number): UpstreamAnswer {
  const chosenProtocol = headerValue(response.headers, 'sec-websocket-protocol');
  const extensions = headerValues(response.headers, 'sec-websocket-extensions');
  return {
    response,
    handshakeMs,
    ...(chosenProtocol !== undefined ? { chosenProtocol } : {}),
    ...(extensions.length ? { chosenExtensions: extensions.join(', ') } : {}),
  };
}
