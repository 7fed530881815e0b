/** Phase app, Socket.IO and engine.io: a refused namespace connection, engine.io's errors, a session that never upgraded. */
import type { Finding, FindingCodeOf } from '../../session/finding.js';
import { finding } from '../finding.js';

type SocketIoFinding = Finding<FindingCodeOf<'app'>>;

const AUTH = /auth|token|credential|login|unauthori[sz]ed|forbidden|jwt|session/i;

function connectErrorHint(message: string): string {
  if (/invalid namespace/i.test(message)) {
    return (
      "The server has no namespace by that name: create it on the server (io.of('/name')), or fix the client's URL: the path after the host " +
      "is the namespace, and the engine.io path (default /socket.io/) is the client's `path` option."
    );
  }
  if (AUTH.test(message)) {
    return (
      "The server's middleware (io.use or a namespace's use) refused the handshake. Send the credential in the client's auth option " +
      '(io(url, { auth: { token } })): Socket.IO delivers it in the CONNECT packet, where a browser can put it (a browser cannot set ' +
      "headers on a WebSocket). Refresh an expired token; for local development, enable the backend's auth bypass and restart it."
    );
  }
  return "The server's middleware called next(new Error(...)) with this message: find it in the backend's io.use handlers.";
}

/** The server answered a namespace CONNECT with CONNECT_ERROR. */
export function inspectConnectError(nsp: string, message: string, transport: 'websocket' | 'polling'): SocketIoFinding {
  const during = transport === 'polling' ? ' during HTTP long-polling (before any WebSocket)' : '';
  return finding(
    'socketio-connect-error',
    `Socket.IO refused the connection to namespace ${nsp}${during}: "${message}". The client sees connect_error.`,
    connectErrorHint(message),
  );
}

/** engine.io's error codes (engine.io/lib/server.ts, Server.errors). */
const ENGINE_ERRORS: Record<number, { name: string; hint: string }> = {
  0: {
    name: 'Transport unknown',
    hint: "The client asked for a transport the server does not run: align the client's and the server's transports options.",
  },
  1: {
    name: 'Session ID unknown',
    hint:
      'This request reached a server that does not know the session: several backend instances behind a load balancer without sticky ' +
      "sessions (enable them, e.g. nginx ip_hash or a cookie; or give the client transports: ['websocket']), or the backend restarted " +
      'since the session began.',
  },
  2: { name: 'Bad handshake method', hint: 'The first request of a session must be a GET: something in front of the server changed the method.' },
  3: {
    name: 'Bad request',
    hint: 'The server refused the request itself: a session that already upgraded still polling, a payload over maxHttpBufferSize, or a proxy that altered the request.',
  },
  4: {
    name: 'Forbidden',
    hint: "The server's allowRequest refused the request (usually an Origin or a credential check): see its allowRequest and cors options.",
  },
  5: {
    name: 'Unsupported protocol version',
    hint: 'Client and server speak different engine.io versions: a Socket.IO 2 client (EIO=3) against a Socket.IO 3/4 server needs allowEIO3: true there, or a newer client.',
  },
};

/** A polling request answered with engine.io's error JSON ({"code":1,"message":"Session ID unknown"}). */
export function inspectEngineIoError(status: number, code: number | undefined, message: string): SocketIoFinding {
  const known = code === undefined ? undefined : ENGINE_ERRORS[code];
  return finding(
    'engineio-error',
    `engine.io answered a polling request with ${status}: ${known ? `${known.name} (code ${code})` : `"${message}"`}.`,
    known?.hint ?? 'engine.io refused the request: see its message, and the server logs at this moment.',
  );
}

/** A Socket.IO session that long-polled and never upgraded. */
export function inspectNoUpgrade(polls: number, seconds: number, upgradeOffered: boolean): SocketIoFinding {
  const offered = upgradeOffered ? 'the server offered the websocket upgrade' : 'the server offered no upgrade (its transports exclude websocket)';
  return finding(
    'socketio-no-upgrade',
    `A Socket.IO session long-polled ${polls} times over ${seconds} s and never upgraded to a WebSocket; ${offered}.`,
    upgradeOffered
      ? "The client never tried the upgrade, or it failed: a client limited to transports: ['polling'], a proxy in front that drops the Upgrade " +
          'and Connection headers (nginx needs proxy_http_version 1.1 and proxy_set_header Upgrade/Connection), or an upgrade the server refused: ' +
          'wstap lists an attempted upgrade as a session of its own.'
      : "Enable the websocket transport on the server (transports: ['polling', 'websocket'], allowUpgrades: true).",
  );
}
