/**
 * The message seam: hooks that see each whole message of a session and may pass it,
 * delay it (by answering with a promise), drop it, replace it or add messages. A session
 * is put on this path at the handshake, when some hook takes it; every other session
 * stays on the byte-faithful paths of tunnel.ts. Fault injection, breakpoints and
 * injection from the API are hooks.
 */
import type { SessionAction } from '../session/action.js';
import type { Side } from '../session/message.js';
import type { Session } from '../session/session.js';

/** A message as a hook sees it: whole, unmasked and inflated. */
export interface HookMessage {
  /** Who sent it; it travels to the other side. */
  readonly from: Side;
  readonly kind: 'text' | 'binary' | 'ping' | 'pong' | 'close';
  /** The payload (for a close frame: the code and the reason, as on the wire). */
  readonly data: Buffer;
  /** For close frames. */
  readonly closeCode?: number;
  readonly closeReason?: string;
  /** Its position among the messages received from its sender, from 0. */
  readonly index: number;
  /** performance.now() when its last byte arrived. */
  readonly at: number;
}

/** A message wstap sends in place of, or beside, one it received. */
export type OutMessage =
  | { readonly kind: 'text'; readonly data: string | Buffer }
  | { readonly kind: 'binary'; readonly data: Buffer }
  | { readonly kind: 'ping' | 'pong'; readonly data?: Buffer }
  | { readonly kind: 'close'; readonly code?: number; readonly reason?: string };

/** What becomes of a message: forwarded as received (then the added ones), dropped, or replaced by others (none: dropped). */
export type HookVerdict =
  | { readonly action: 'pass'; readonly add?: readonly OutMessage[] }
  | { readonly action: 'drop' }
  | { readonly action: 'replace'; readonly with: readonly OutMessage[] };

/**
 * Sees each message of one session, in order per direction. Nothing (undefined) means pass.
 * A promise holds the messages behind this one in the same direction until it settles: a delay.
 */
export type MessageHandler = (m: HookMessage) => HookVerdict | undefined | Promise<HookVerdict | undefined>;

/** What a hook can do to its session outside the flow of messages. */
export interface SessionControl {
  /** Sends a message to one side, behind what that direction holds. */
  send(to: Side, m: OutMessage): void;
  /** A close frame to the side(s) named, as if the other side had sent it, then the TCP close. */
  close(to: Side | 'both', code: number, reason: string): void;
  /** Resets both connections (no close frame). */
  cut(reason: string): void;
  /** Reports what the hook did: an event for every sink, and the session is marked as altered. */
  report(action: SessionAction): void;
  /** Milliseconds since the tunnel opened. */
  elapsed(): number;
  /** Called once when both connections have closed (timers of the hook are cleared there). */
  onClose(fn: () => void): void;
}

/** Decides at the handshake whether it acts on a session; undefined leaves the session alone. */
export interface MessageHook {
  readonly name: string;
  forSession(session: Session, control: SessionControl): MessageHandler | undefined;
}
