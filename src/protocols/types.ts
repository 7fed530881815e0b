/**
 * The one small interface of an application protocol decoder: how it is recognised (a
 * subprotocol, a path, a first message) and what it makes of each message of a session. A
 * new protocol is one file that implements it and one line in registry.ts.
 */
import type { AppPacket, AppProtocol } from '../session/app.js';
import type { Finding } from '../session/finding.js';
import type { WsMessage } from '../session/message.js';
import type { CloseSummary } from '../session/summary.js';

/**
 * A packet as a decoder reads it, before the operation tracker pairs it: what operation it
 * starts (a key unique in its session, and the operation's name) and which one it answers.
 */
export interface PacketDraft extends Omit<AppPacket, 'answers'> {
  /** This packet asks for an answer: an ack id, a subscription, a receipt, a packet identifier, a JSON-RPC id. */
  readonly starts?: {
    readonly key: string;
    readonly operation: string;
    /** It may rightly get no answer before the session ends (a subscription no event came for): never "unanswered". */
    readonly mayStayOpen?: boolean;
  };
  /**
   * This packet answers the operation `key`. final: the operation is over (a complete, an ACK);
   * otherwise more answers may follow (a subscription's results), and only the first is timed.
   */
  readonly ends?: { readonly key: string; readonly final: boolean; readonly error?: boolean };
  /** Byte ranges of the message's payload that hold a credential (see AppMessage.secrets). */
  readonly secrets?: readonly (readonly [number, number])[];
}

/** The message a decoder reads: only what it needs of a WsMessage. */
export type DecoderInput = Pick<WsMessage, 'from' | 'kind' | 'data' | 'truncated' | 'closeCode' | 'closeReason' | 'lastByteAt'>;

/** One session's decoder: per-session state (a Socket.IO binary event waiting for its attachments, an MQTT stream). */
export interface SessionDecoder {
  /** The packets of one data message; undefined when it cannot be read as this protocol. */
  decode(m: DecoderInput): readonly PacketDraft[] | undefined;
  /** The session's close: findings only the protocol can explain (graphql-ws 4403, a STOMP heart-beat that stopped). */
  end?(close: CloseSummary | undefined, endAt: number): readonly Finding[];
}

/** What a decoder may do while it decodes: raise a finding of the app phase (from an inspector in src/inspect/app/). */
export interface DecoderContext {
  raise(f: Finding): void;
}

export interface ProtocolDecoder {
  readonly protocol: AppProtocol;
  /** The subprotocols that name it, lower-case (graphql-transport-ws, v12.stomp, mqtt). */
  readonly subprotocols: readonly string[];
  /** It reads binary messages whole (MQTT, Socket.IO's attachments): the tap keeps their payloads for it. */
  readonly readsBinary: boolean;
  /** The path and query alone say it (Socket.IO's /socket.io/?EIO=4). */
  matchesPath?(pathname: string, query: URLSearchParams): boolean;
  /** A first data message that can only be this protocol (cheap: called for at most a few messages of a session). */
  sniff?(m: DecoderInput): boolean;
  open(ctx: DecoderContext): SessionDecoder;
}
