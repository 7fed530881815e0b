/** What the upgrade relay needs from the proxy around it, and what it keeps of each live session. */
import type { TunnelControl } from './control.js';
import type { InspectContext } from '../inspect/registry.js';
import type { Session } from '../session/session.js';
import type { SessionBus } from '../sinks/bus.js';
import type { MessageHook } from '../tunnel/hooks.js';
import type { Target } from '../wire/target.js';
import type { ProtocolChoice } from '../protocols/registry.js';

export interface RelayConfig {
  target: Target;
  /** Frame decoding, when some sink wants frames. */
  tap: {
    maxMessageBytes: number;
    correlate?: string;
    /** --protocol: the application protocol per path (detection otherwise). */
    protocols?: readonly ProtocolChoice[];
  };
  inspect: Omit<InspectContext, 'now'>;
  upstreamTimeoutMs: number;
  maxHeaderSize: number;
  insecure: boolean;
}

/** What the relay needs from the server around it. */
export interface RelayContext {
  config: RelayConfig;
  bus: SessionBus;
  /** Message hooks; a session one of them takes goes on the message path. */
  hooks: readonly MessageHook[];
  nextSessionId(): string;
  /** Live tunnels and pending upgrades, for shutdown. */
  live: Set<LiveSession>;
  /** Session ends waiting for their frame tap to settle; shutdown waits for them. */
  pendingEnds: Set<Promise<void>>;
  /** The frame tap of a session failed (a bug in wstap): report it; forwarding goes on. */
  onTapFailure(session: Session, error: unknown): void;
  /** A message hook threw or rejected: report it; the message passes. */
  onHookFailure(session: Session, error: unknown): void;
}

export interface LiveSession {
  /** The session as emitted (a placeholder until the backend answers). */
  session: Session;
  /** Ends the session from wstap's side (shutdown); resolves when its sockets are closed. */
  abort(reason: string): void | Promise<void>;
  /** Once tunnelled: what the API can do to it (send, close, cut). */
  control?: TunnelControl;
}
