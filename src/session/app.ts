/**
 * What a session's messages mean in their application protocol: Socket.IO (engine.io),
 * GraphQL over WebSocket, STOMP, MQTT, JSON-RPC. The protocol is detected per session
 * (src/protocols/), each message gets its decoded annotation beside the raw payload, and
 * the operations (an ack, a subscription, a receipt, a packet id, a JSON-RPC id) are paired
 * with their answers and timed.
 */

export const APP_PROTOCOLS = ['socket.io', 'graphql-ws', 'subscriptions-transport-ws', 'stomp', 'mqtt', 'json-rpc'] as const;

export type AppProtocol = (typeof APP_PROTOCOLS)[number];

/**
 * How the protocol was known: the subprotocol the 101 chose (or the client offered), the path
 * and query (/socket.io/?EIO=4), the first messages, or --protocol.
 */
export type DetectedBy = 'subprotocol' | 'path' | 'messages' | 'forced';

export interface AppDetection {
  readonly protocol: AppProtocol;
  readonly by: DetectedBy;
}

/** An error a packet carries: a CONNECT_ERROR, an ERROR frame, a JSON-RPC error, a CONNACK refusal. */
export interface AppError {
  readonly code?: string | number;
  readonly message: string;
}

/** One packet of the protocol (a message usually holds one; a JSON-RPC batch or an MQTT stream can hold several). */
export interface AppPacket {
  /** The packet type or command, as the protocol names it: EVENT, ACK, subscribe, next, SEND, PUBLISH, request. */
  readonly type: string;
  /** What it is about: an event name, an operation name, a destination, a topic, a method. */
  readonly name?: string;
  /** Its correlation id (an ack id, a subscription id, a receipt, a packet identifier, a JSON-RPC id). */
  readonly id?: string;
  /** One line for people: `socket.io emit "chat" [ack 12]`, `MQTT PUBLISH sensors/t1 qos1 (id 3)`. */
  readonly line: string;
  readonly error?: AppError;
  /** The operation this packet answers (set by the operation tracker): what it was, how long the answer took. */
  readonly answers?: OperationAnswer;
}

export interface OperationAnswer {
  /** The operation's name ("emit chat", "subscribe OnMessage", "eth_call"). */
  readonly operation: string;
  readonly ms: number;
  /** The number in its session of the message that started the operation. */
  readonly seq: number;
}

/** A message's meaning in its protocol: its packets, and one line for all of them. */
export interface AppMessage {
  readonly protocol: AppProtocol;
  readonly packets: readonly AppPacket[];
  readonly line: string;
  /**
   * Byte ranges [start, end) of the payload that hold a credential the protocol carries (an MQTT
   * CONNECT's password, a STOMP CONNECT's passcode): every output masks them.
   */
  readonly secrets?: readonly (readonly [number, number])[];
}

/** One operation's numbers over a session. */
export interface OperationStats {
  /** "emit chat", "subscribe OnMessage", "SEND /queue/a", "PUBLISH sensors/t1 qos1", "eth_call". */
  readonly operation: string;
  /** Started. */
  readonly count: number;
  /** Answered with an error. */
  readonly errors: number;
  /** Started and never answered by the end of the session. */
  readonly unanswered: number;
  /** Request → first answer, ms. */
  readonly latency?: { count: number; p50: number; p95: number; p99: number; max: number };
}

/** What the protocol decoder saw over a session: in the close summary, the recording, the live view. */
export interface AppSummary {
  readonly protocol: AppProtocol;
  readonly by: DetectedBy;
  /** Decoded packets per type, both directions. */
  readonly packets: Readonly<Record<string, number>>;
  /** Per operation, most frequent first (at most 50; the rest under "other"). */
  readonly operations: readonly OperationStats[];
  /** Messages the decoder could not read as this protocol. */
  readonly undecoded?: number;
}
