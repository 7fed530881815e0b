/**
 * The session: one WebSocket upgrade and everything that followed it. The relay builds it
 * and emits it once, complete, when the backend answered (or could not be reached, or the
 * request was refused); nobody writes into an emitted record. How the tunnel ended comes
 * as a record of its own, SessionEnd, with the findings raised while it was open.
 */
import type { AlteredCounts } from './action.js';
import type { AppDetection } from './app.js';
import type { Credential } from '../secrets/credentials.js';
import type { RequestHead, ResponseHead } from '../wire/http-head.js';
import type { Finding } from './finding.js';
import type { TapSummary } from './summary.js';

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export interface Handshake {
  readonly request: RequestHead;
  /**
   * 'wire': the exact bytes the client sent (the usual case).
   * 'rebuilt': the upgrade came on a keep-alive connection that Node had already parsed;
   * the head was rebuilt from rawHeaders (case, order and duplicates kept, whitespace normalised).
   */
  readonly headSource: 'wire' | 'rebuilt';
  /** Every Origin line, in order. */
  readonly origins: readonly string[];
  readonly credentials: readonly Credential[];
  readonly offeredProtocols: readonly string[];
  readonly offeredExtensions: readonly string[];
}

export interface UpstreamAnswer {
  readonly response: ResponseHead;
  /** The first bytes of a non-101 answer's body, as text (for the log). */
  readonly bodyExcerpt?: string;
  readonly chosenProtocol?: string;
  readonly chosenExtensions?: string;
  /** Request head sent → response head complete, in milliseconds. */
  readonly handshakeMs: number;
}

export interface UpstreamFailure {
  /** errno-style code: ECONNREFUSED, ENOTFOUND, ETIMEDOUT, ECONNRESET, ... */
  readonly code: string;
  readonly message: string;
}

/**
 * tunnel: 101 validated, bytes flow both ways.
 * rejected: the backend answered with something else (relayed to the client).
 * failed: the backend could not be reached or broke off (the client got a 502).
 * invalid: the request was no valid upgrade (the client got a 400).
 * aborted: the client went away, or wstap shut down, before the backend answered.
 */
export type SessionOutcome = 'tunnel' | 'rejected' | 'failed' | 'invalid' | 'aborted';

export interface Session {
  /** Unique within a process: "ws-1", "ws-2", ... */
  readonly id: string;
  readonly client: Endpoint;
  /** The target as configured, e.g. "http://localhost:8000". */
  readonly target: string;
  /** Epoch milliseconds when the request head was complete. */
  readonly startedAt: number;
  readonly handshake: Handshake;
  /** Findings of the request, the backend's answer and the connection to it (phases handshake, answer, upstream). */
  readonly findings: readonly Finding[];
  /** True when --normalize-origin dropped Origin lines before forwarding. */
  readonly originNormalized: boolean;
  readonly upstream?: UpstreamAnswer;
  readonly failure?: UpstreamFailure;
  readonly outcome: SessionOutcome;
  /**
   * The application protocol the handshake names: --protocol, the subprotocol, the path
   * (/socket.io/?EIO=4). Absent when the first messages have to tell (SessionEnd.ws.app has it then).
   */
  readonly app?: AppDetection;
}

export type TunnelSide = 'client' | 'server' | 'proxy';

/** How a tunnel ended. */
export interface SessionEnd {
  /** Which side ended (FIN or reset) first. */
  readonly endedBy: TunnelSide;
  readonly how: 'fin' | 'reset' | 'error' | 'shutdown';
  readonly error?: string;
  readonly durationMs: number;
  readonly bytes: { readonly clientToServer: number; readonly serverToClient: number };
  /** What the frame tap saw: the WebSocket close, messages each way, latency. Absent when frames were not decoded. */
  readonly ws?: TapSummary;
  /** Findings raised while the tunnel was open (protocol) and about its close (close). */
  readonly findings: readonly Finding[];
  /** What wstap did to its traffic (fault rules, the API), by kind: present when it did anything. */
  readonly altered?: AlteredCounts;
}
