/**
 * Findings: what wstap noticed about a session, with a stable code, a severity, the facts
 * (message) and what to change (hint). The catalogue below is the one table of codes:
 * README.md and `wstap findings` print it (a test keeps the three in step). Findings are
 * made only by the inspectors in src/inspect/, one phase each.
 */
import type { ProtocolRule } from './message.js';

export type Severity = 'info' | 'warn' | 'error';

/** Where in a session's life (or around it) a finding comes from. */
export type FindingPhase = 'handshake' | 'answer' | 'upstream' | 'close' | 'protocol' | 'app' | 'environment' | 'pattern';

export const FINDING_CATALOG = {
  'origin-duplicate': { severity: 'warn', phase: 'handshake', when: 'two or more Origin lines in one upgrade request' },
  'origin-disallowed': {
    severity: 'warn',
    phase: 'handshake',
    when: 'the Origin matches no --allow-origin pattern (and whether the backend accepted it)',
  },
  'origin-missing': { severity: 'info', phase: 'handshake', when: 'no Origin header (a non-browser client)' },
  'auth-missing': {
    severity: 'warn',
    phase: 'handshake',
    when: 'no credential in Authorization, token query parameters, cookies or Sec-WebSocket-Protocol',
  },
  'auth-expired': { severity: 'warn', phase: 'handshake', when: 'a JWT credential whose exp has passed (decoded, never verified)' },
  'handshake-invalid': {
    severity: 'error',
    phase: 'handshake',
    when: 'not a valid RFC 6455 upgrade (method, version 13, key, Connection/Upgrade, malformed head)',
  },
  'upgrade-rejected': { severity: 'error', phase: 'answer', when: 'the backend answered the upgrade with something other than 101' },
  'upgrade-accept-invalid': {
    severity: 'error',
    phase: 'answer',
    when: 'a 101 whose Sec-WebSocket-Accept (or Upgrade) is missing or wrong: not tunnelled',
  },
  'subprotocol-mismatch': {
    severity: 'error',
    phase: 'answer',
    when: 'the client offered subprotocols and the 101 selected none, or one it did not offer: browsers fail the connection',
  },
  'extension-mismatch': {
    severity: 'error',
    phase: 'answer',
    when: 'the 101 chose an extension (or a parameter) the client did not offer: browsers fail the connection',
  },
  'upstream-refused': { severity: 'error', phase: 'upstream', when: 'connection refused: backend down or port not mapped' },
  'upstream-dns': { severity: 'error', phase: 'upstream', when: 'the target host name does not resolve: service name or network' },
  'upstream-timeout': { severity: 'error', phase: 'upstream', when: 'no connection, or no answer to the request, in time' },
  'upstream-reset': { severity: 'error', phase: 'upstream', when: 'the backend closed or reset the connection before answering' },
  'upstream-tls': { severity: 'error', phase: 'upstream', when: 'the TLS handshake with an https/wss target failed (certificate, protocol)' },
  'health-failed': { severity: 'error', phase: 'upstream', when: 'wstap check: the --health path did not answer with a 2xx status' },
  'close-policy': { severity: 'warn', phase: 'close', when: 'close code 1008 (authentication or Origin policy), with the reason' },
  'close-abnormal': { severity: 'warn', phase: 'close', when: 'the connection ended without a close frame (1006)' },
  'close-error': { severity: 'warn', phase: 'close', when: '1011 and the other server-side error close codes' },
  'protocol-error': {
    severity: 'error',
    phase: 'protocol',
    when: 'a frame that breaks RFC 6455 (bad UTF-8, unmasked client frame, bad RSV bits, oversize or fragmented control frame)',
  },
  'socketio-connect-error': {
    severity: 'error',
    phase: 'app',
    when: 'Socket.IO refused a namespace connection (CONNECT_ERROR), on the WebSocket or during HTTP long-polling: auth middleware, unknown namespace',
  },
  'engineio-error': {
    severity: 'error',
    phase: 'app',
    when: 'engine.io answered a polling request with its error (Session ID unknown: no sticky sessions; Transport unknown; Bad request; Forbidden)',
  },
  'socketio-no-upgrade': {
    severity: 'warn',
    phase: 'app',
    when: 'a Socket.IO session kept long-polling and never upgraded to a WebSocket (or its upgrade failed)',
  },
  'graphql-close': {
    severity: 'error',
    phase: 'app',
    when: 'a GraphQL over WebSocket close code (4400 bad message, 4401 unauthorised, 4403 forbidden, 4406 subprotocol, 4408 init timeout, 4409 duplicate subscriber, 4429 too many inits, 4500), explained',
  },
  'graphql-init-unacked': {
    severity: 'warn',
    phase: 'app',
    when: 'the client sent connection_init and the server never acknowledged it (no connection_ack before the end)',
  },
  'graphql-error': { severity: 'warn', phase: 'app', when: 'an operation ended with an error message (the operation, the first error)' },
  'stomp-error': {
    severity: 'error',
    phase: 'app',
    when: "a STOMP ERROR frame from the broker: its message header (bad credentials, access refused, a destination that doesn't exist)",
  },
  'stomp-heartbeat-missed': {
    severity: 'warn',
    phase: 'app',
    when: 'a side went silent for longer than the STOMP heart-beat it negotiated (the interval, the gap)',
  },
  'mqtt-connack-refused': {
    severity: 'error',
    phase: 'app',
    when: 'the MQTT broker refused the CONNECT (bad user name or password, not authorised, identifier rejected, protocol version), with the reason code',
  },
  'mqtt-disconnect': {
    severity: 'warn',
    phase: 'app',
    when: 'an MQTT 5 DISCONNECT with an error reason code (session taken over, keep-alive timeout, quota exceeded)',
  },
  'jsonrpc-error': { severity: 'warn', phase: 'app', when: 'JSON-RPC error responses: the codes, the methods and their count' },
  'operation-unanswered': {
    severity: 'warn',
    phase: 'app',
    when: 'requests that were never answered before the session ended (a Socket.IO ack, a JSON-RPC id, a STOMP receipt, an MQTT packet id, a GraphQL query or mutation without its result; not subscriptions, which may rightly wait)',
  },
  'localhost-in-container': {
    severity: 'warn',
    phase: 'environment',
    when: 'wstap runs in a container and its target is localhost: the container itself',
  },
  'env-unreachable-url': {
    severity: 'error',
    phase: 'environment',
    when: "an env file's browser URL (NEXT_PUBLIC_*) names a host a browser on the host cannot reach",
  },
  'env-inconsistent': {
    severity: 'warn',
    phase: 'environment',
    when: "an env file's URLs disagree: different hosts, or schemes that do not pair (https with ws://)",
  },
  'env-ws-path-missing': {
    severity: 'warn',
    phase: 'environment',
    when: "an env file's WebSocket URL has no path (ws://host:port): most backends serve WebSockets on one, such as /ws",
  },
  'env-auth-bypass': {
    severity: 'warn',
    phase: 'environment',
    when: 'auth bypass variables set outside ENVIRONMENT=development, or only some of them set',
  },
  'slow-consumer': {
    severity: 'warn',
    phase: 'pattern',
    when: "one side stopped reading while the other kept sending: wstap's writes toward it waited for seconds (which side, how long, how much was queued, the two rates)",
  },
  'heartbeat-missed': {
    severity: 'warn',
    phase: 'pattern',
    when: "one side pinged at a steady interval and the other stopped answering: the interval, the pongs missed, and the session's end after the last pong",
  },
  'idle-timeout': {
    severity: 'warn',
    phase: 'pattern',
    when: 'sessions ended without a close frame after the same span without traffic: the span, the timeouts it matches (nginx, load balancers, a CDN) and the fix',
  },
  'reconnect-loop': {
    severity: 'warn',
    phase: 'pattern',
    when: 'the same client (address, Origin, path, user agent) opened session after session, each ended the same way: the count, the period, the cause and its fix',
  },
} as const satisfies Record<string, { severity: Severity; phase: FindingPhase; when: string }>;

export type FindingCode = keyof typeof FINDING_CATALOG;

/** A line of the handshake: the request or status line, or a header by its lower-case name. */
export type HeadLine = 'request-line' | 'status-line' | `request:${string}` | `response:${string}`;

/**
 * The lines of the handshake each code is about: the live view marks them. A credential's own
 * line (auth-expired) comes from the session's credentials, not from here.
 */
export const FINDING_LINES: Partial<Record<FindingCode, readonly HeadLine[]>> = {
  'origin-duplicate': ['request:origin'],
  'origin-disallowed': ['request:origin'],
  'handshake-invalid': ['request-line', 'request:sec-websocket-key', 'request:sec-websocket-version', 'request:upgrade', 'request:connection'],
  'upgrade-rejected': ['status-line'],
  'upgrade-accept-invalid': ['status-line', 'response:sec-websocket-accept', 'response:upgrade', 'response:connection'],
  'subprotocol-mismatch': ['request:sec-websocket-protocol', 'response:sec-websocket-protocol'],
  'extension-mismatch': ['request:sec-websocket-extensions', 'response:sec-websocket-extensions'],
};

/** The codes of one phase, as a type: inspectors of that phase return only these. */
export type FindingCodeOf<P extends FindingPhase> = {
  [C in FindingCode]: (typeof FINDING_CATALOG)[C]['phase'] extends P ? C : never;
}[FindingCode];

export interface Finding<C extends FindingCode = FindingCode> {
  readonly code: C;
  readonly severity: Severity;
  /** The facts, in one sentence or two. */
  readonly message: string;
  /** What to change. */
  readonly hint: string;
  /** protocol-error: the rule of RFC 6455 that was broken, by its stable code. */
  readonly rule?: ProtocolRule;
}

export function phaseOf(f: Pick<Finding, 'code'>): FindingPhase {
  return FINDING_CATALOG[f.code].phase;
}

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warn: 1, error: 2 };

/** The highest severity among findings, or undefined when there are none. */
export function worstSeverity(findings: readonly Pick<Finding, 'severity'>[]): Severity | undefined {
  let worst: Severity | undefined;
  for (const f of findings) if (worst === undefined || SEVERITY_RANK[f.severity] > SEVERITY_RANK[worst]) worst = f.severity;
  return worst;
}
