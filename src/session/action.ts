/**
 * What wstap did to a session's traffic: a fault rule that fired, a message sent into it or a
 * close from the API. Each one is an event (a log line, a recording event, a mark in the live
 * view), and a session acted on is marked as altered everywhere.
 */
import type { Side } from './message.js';

/** Fault actions, a message sent (send), and a breakpoint's: held (hold), forwarded as it was (release) or edited (edit). */
export type ActionKind = 'delay' | 'drop' | 'close' | 'cut' | 'stall' | 'throttle' | 'duplicate' | 'send' | 'hold' | 'release' | 'edit';

export interface SessionAction {
  kind: ActionKind;
  /** Who asked: a rule ("rule 2: delay=300ms to=client"), a breakpoint ("breakpoint 1") or the API ("api"). */
  by: string;
  /** The side the affected traffic travels to. */
  to: Side | 'both';
  /** Milliseconds since the tunnel opened. */
  t: number;
  /** What was done, in a sentence, without any payload: "delayed a 42 B text message to the client by 300 ms". */
  detail: string;
}

/** How many actions of each kind a session had. */
export type AlteredCounts = Partial<Record<ActionKind, number>>;
