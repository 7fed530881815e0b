/**
 * The session: one WebSocket upgrade and everything that followed it. One object
 * flows from the socket to every sink (log, recording, metrics); sinks read it,
 * only the relay writes it.
 */
import type { Credential } from '../secrets/credentials.js';
import type { TapSummary } from '../tap/frame-tap.js';
import type { Finding } from './finding.js';
import type { RequestHead, ResponseHead } from '../wire/http-head.js';

export interface Endpoint {
  address: string;
  port: number;
}

export interface Handshake {
  request: RequestHead;
  /**
   * 'wire': the exact bytes the client sent (the usual case).
   * 'rebuilt': the upgrade came on a keep-alive connection that Node had already parsed;
   * the head was rebuilt from rawHeaders (case, order and duplicates kept, whitespace normalised).
   */
  headSource: 'wire' | 'rebuilt';
  /** Every Origin line, in order. */
  origins: string[];
  credentials: Credential[];
  offeredProtocols: string[];
  offeredExtensions: string[];
}

export interface UpstreamAnswer {
  response: ResponseHead;
  /** The first bytes of a non-101 answer's body, as text (for the log). */
  bodyExcerpt?: string;
  chosenProtocol?: string;
  chosenExtensions?: string;
  /** Request head sent → response head complete, in milliseconds. */
  handshakeMs: number;
}

export interface UpstreamFailure {
  /** errno-style code: ECONNREFUSED, ENOTFOUND, ETIMEDOUT, ECONNRESET, ... */
  code: string;
  message: string;
}

/**
 * tunnel: 101 validated, bytes flow both ways.
 * rejected: the backend answered with something else (relayed to the client).
 * failed: the backend could not be reached or broke off (the client got a 502).
 * invalid: the request was no valid upgrade (the client got a 400).
 * aborted: the client went away before the backend answered.
 */
export type SessionOutcome = 'pending' | 'tunnel' | 'rejected' | 'failed' | 'invalid' | 'aborted';

export interface Session {
  /** Short, unique within a process: "ws-1", "ws-2", ... */
  id: string;
  client: Endpoint;
  /** The target as configured, e.g. "http://localhost:8000". */
  target: string;
  /** Epoch milliseconds when the request head was complete. */
  startedAt: number;
  handshake: Handshake;
  findings: Finding[];
  /** True when --normalize-origin dropped Origin lines before forwarding. */
  originNormalized: boolean;
  upstream?: UpstreamAnswer;
  failure?: UpstreamFailure;
  outcome: SessionOutcome;
}

export type TunnelSide = 'client' | 'server' | 'proxy';

/** How a tunnel ended. */
export interface SessionEnd {
  /** Which side ended (FIN or reset) first. */
  endedBy: TunnelSide;
  how: 'fin' | 'reset' | 'error' | 'shutdown';
  error?: string;
  durationMs: number;
  bytes: { clientToServer: number; serverToClient: number };
  /** What the frame tap saw: the WebSocket close, messages each way, latency. Absent when frames were not decoded. */
  ws?: TapSummary;
}
