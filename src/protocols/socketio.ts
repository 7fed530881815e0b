/**
 * Socket.IO 4 over engine.io 4, with the protocols' own parsers (engine.io-parser,
 * socket.io-parser; MessagePack for the msgpack parser's binary packets): engine.io's
 * packets (open, ping, pong, message, upgrade, noop, close), Socket.IO's (CONNECT,
 * CONNECT_ERROR, DISCONNECT, EVENT, ACK, and their binary forms with the attachments
 * reassembled), namespaces, event names and acks. The same session decoder reads the
 * WebSocket transport and the HTTP long-polling payloads (proxy/polling.ts).
 */
import { decode as decodeMsgpack } from '@msgpack/msgpack';
import { decodePacket, decodePayload, type Packet as EnginePacket } from 'engine.io-parser';
import { Decoder, PacketType, type Packet as SocketPacket } from 'socket.io-parser';
import { inspectConnectError } from '../inspect/app/socketio.js';
import type { Side } from '../session/message.js';
import type { DecoderContext, DecoderInput, PacketDraft, ProtocolDecoder, SessionDecoder } from './types.js';
import { nameText, quoteName } from './text.js';

const other = (s: Side): Side => (s === 'client' ? 'server' : 'client');

/** A binary event or ack whose header came and whose attachments are still on their way. */
interface Pending {
  readonly name: string | undefined;
  readonly total: number;
  got: number;
}

/** The header of a binary packet: 5<attachments>-[/nsp,][id]<json> (socket.io-parser's encoding). */
const BINARY_HEADER = /^([56])(\d+)-(\/[^,]*,)?(\d+)?([\s\S]*)$/;

function headerName(text: string): { name: string | undefined; total: number } | undefined {
  const m = BINARY_HEADER.exec(text);
  if (!m) return undefined;
  let name: string | undefined;
  if (m[1] === '5') {
    try {
      const data = JSON.parse(m[5]!) as unknown;
      if (Array.isArray(data)) name = nameText(data[0]);
    } catch {
      // the parser says what is wrong with it
    }
  }
  return { name, total: Number(m[2]) };
}

export type Transport = 'websocket' | 'polling';

export class SocketIoSession implements SessionDecoder {
  private readonly parsers: Partial<Record<Side, Decoder>> = {};
  private decoded: SocketPacket | undefined;
  private readonly pending: Partial<Record<Side, Pending>> = {};

  constructor(
    private readonly ctx: DecoderContext,
    private readonly transport: Transport,
  ) {}

  decode(m: DecoderInput): readonly PacketDraft[] | undefined {
    if (m.kind !== 'text' && m.kind !== 'binary') return undefined;
    if (m.truncated) return [{ type: 'truncated', line: 'socket.io message over --max-message-size: not decoded' }];
    if (m.kind === 'binary') return [this.binary(m.from, m.data)];
    // The bulk of Socket.IO traffic: an event or an ack, read without parsing its arguments.
    if (m.data[0] === 0x34 && (m.data[1] === 0x32 || m.data[1] === 0x33) && !this.pending[m.from]) {
      const fast = eventOrAck(m.data);
      if (fast) return [this.packet(m.from, fast)];
    }
    const p = decodePacket(m.data.toString('utf8'), 'nodebuffer');
    return p.type === 'error' ? undefined : [this.engine(m.from, p)];
  }

  /** An HTTP long-polling body: engine.io packets separated by \x1e (binary ones as b<base64>). */
  decodePolling(from: Side, body: string): PacketDraft[] | undefined {
    const packets = decodePayload(body, 'nodebuffer');
    if (packets.some((p) => p.type === 'error')) return undefined;
    return packets.map((p) => (p.type === 'message' && Buffer.isBuffer(p.data) ? this.binary(from, p.data) : this.engine(from, p)));
  }

  private engine(from: Side, p: EnginePacket): PacketDraft {
    switch (p.type) {
      case 'message':
        return this.socket(from, typeof p.data === 'string' ? p.data : '');
      case 'open':
        return { type: 'open', line: `engine.io open${openDetail(p.data)}` };
      case 'ping':
        return {
          type: 'ping',
          line: p.data === 'probe' ? 'engine.io ping probe (upgrade check)' : 'engine.io ping',
          starts: { key: `ping:${from}`, operation: 'engine.io ping' },
        };
      case 'pong':
        return {
          type: 'pong',
          line: p.data === 'probe' ? 'engine.io pong probe' : 'engine.io pong',
          ends: { key: `ping:${other(from)}`, final: true },
        };
      case 'upgrade':
        return { type: 'upgrade', line: 'engine.io upgrade (polling → websocket)' };
      case 'noop':
        return { type: 'noop', line: 'engine.io noop' };
      default:
        return { type: 'close', line: 'engine.io close' };
    }
  }

  private parser(from: Side): Decoder {
    let d = this.parsers[from];
    if (!d) {
      d = new Decoder();
      d.on('decoded', (packet: SocketPacket) => (this.decoded = packet));
      this.parsers[from] = d;
    }
    return d;
  }

  private add(from: Side, data: string | Buffer): SocketPacket | undefined {
    this.decoded = undefined;
    try {
      this.parser(from).add(data);
    } catch (err) {
      // The parser keeps no state worth saving after a bad packet: start again.
      delete this.parsers[from];
      delete this.pending[from];
      throw err;
    }
    const p = this.decoded;
    this.decoded = undefined;
    return p;
  }

  private socket(from: Side, text: string): PacketDraft {
    let p: SocketPacket | undefined;
    try {
      p = this.add(from, text);
    } catch (err) {
      // Not a Socket.IO packet type at all: engine.io used on its own (without Socket.IO) sends its messages as they are.
      if (!/^[0-6]/.test(text)) return { type: 'message', line: `engine.io message (${Buffer.byteLength(text)} bytes)` };
      return { type: 'unreadable', line: `socket.io unreadable packet: ${(err as Error).message}` };
    }
    if (p) return this.packet(from, p);
    // A binary event's header: its attachments follow as binary messages.
    const header = headerName(text);
    const total = header?.total ?? 0;
    this.pending[from] = { name: header?.name, total, got: 0 };
    const what = text[0] === '6' ? 'binary ack' : `emit ${quoteName(header?.name)}`;
    return {
      type: text[0] === '6' ? 'BINARY_ACK' : 'BINARY_EVENT',
      ...nameOf(header?.name),
      line: `socket.io ${what} (${total} binary attachment${total === 1 ? '' : 's'} to follow)`,
    };
  }

  private binary(from: Side, data: Buffer): PacketDraft {
    const pending = this.pending[from];
    if (pending) {
      pending.got++;
      let p: SocketPacket | undefined;
      try {
        p = this.add(from, data);
      } catch (err) {
        return { type: 'unreadable', line: `socket.io unreadable attachment: ${(err as Error).message}` };
      }
      const part = `attachment ${pending.got}/${pending.total}`;
      if (!p)
        return {
          type: 'attachment',
          ...nameOf(pending.name),
          line: `socket.io ${part} of ${pending.name !== undefined ? quoteName(pending.name) : 'an ack'}`,
        };
      delete this.pending[from];
      const whole = this.packet(from, p);
      return { ...whole, line: `${whole.line} (${part}, complete)` };
    }
    // socket.io-msgpack-parser: each packet one MessagePack-encoded binary message.
    try {
      const v = decodeMsgpack(data) as Partial<SocketPacket> | undefined;
      if (v && typeof v === 'object' && typeof v.type === 'number' && typeof v.nsp === 'string') {
        const whole = this.packet(from, v as SocketPacket);
        return { ...whole, line: `${whole.line} (msgpack)` };
      }
    } catch {
      // not MessagePack
    }
    return { type: 'binary', line: `engine.io binary message (${data.length} bytes)` };
  }

  private packet(from: Side, p: SocketPacket): PacketDraft {
    const nsp = nameText(p.nsp) || '/';
    const inNsp = nsp === '/' ? '' : ` ${nsp}`;
    const id = p.id === undefined || p.id === null ? undefined : String(p.id);
    switch (p.type) {
      case PacketType.CONNECT:
        if (from === 'client') {
          return {
            type: 'CONNECT',
            name: nsp,
            line: `socket.io connect ${nsp}${p.data ? ' (with auth)' : ''}`,
            starts: { key: `connect:${nsp}`, operation: `connect ${nsp}` },
          };
        }
        return { type: 'CONNECT', name: nsp, line: `socket.io connected ${nsp}`, ends: { key: `connect:${nsp}`, final: true } };
      case PacketType.CONNECT_ERROR: {
        const data = p.data as { message?: unknown } | string | undefined;
        const message = typeof data === 'string' ? data : typeof data?.message === 'string' ? data.message : 'connect_error';
        this.ctx.raise(inspectConnectError(nsp, message, this.transport));
        return {
          type: 'CONNECT_ERROR',
          name: nsp,
          line: `socket.io connect_error ${nsp} "${message}"`,
          error: { message },
          ends: { key: `connect:${nsp}`, final: true, error: true },
        };
      }
      case PacketType.DISCONNECT:
        return { type: 'DISCONNECT', name: nsp, line: `socket.io disconnect ${nsp}` };
      case PacketType.EVENT:
      case PacketType.BINARY_EVENT: {
        const args = Array.isArray(p.data) ? (p.data as unknown[]) : [];
        const name = nameText(args[0]) ?? '(no name)';
        return {
          type: 'EVENT',
          name,
          ...(id !== undefined ? { id } : {}),
          line: `socket.io emit${inNsp} ${quoteName(name)}${id !== undefined ? ` [ack ${id}]` : ''}`,
          ...(id !== undefined ? { starts: { key: `${from}:${nsp}:${id}`, operation: `emit ${name}` } } : {}),
        };
      }
      default:
        // ACK and BINARY_ACK
        return {
          type: 'ACK',
          ...(id !== undefined ? { id } : {}),
          line: `socket.io ack${inNsp} ${id ?? '?'}`,
          ...(id !== undefined ? { ends: { key: `${other(from)}:${nsp}:${id}`, final: true } } : {}),
        };
    }
  }
}

/** socket.io-parser's reserved event names (an EVENT packet with one of them is invalid). */
const RESERVED_EVENTS = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);

const DIGIT = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x39;

/**
 * An engine.io message holding a Socket.IO EVENT or ACK (4 2|3 [/nsp,] [id] [...]), read as
 * socket.io-parser reads its header, but without parsing the arguments: only an event's name
 * (the first string of the array) is read. Anything unusual (no array, a name that is not a
 * string, an ack without an id) is undefined, and socket.io-parser reads the packet instead.
 */
export function eventOrAck(d: Buffer): SocketPacket | undefined {
  const type = d[1] === 0x32 ? PacketType.EVENT : PacketType.ACK;
  // socket.io-parser's JSON ends with the array's ']': anything else (a cut or bad payload) is the parser's to refuse.
  if (d[d.length - 1] !== 0x5d) return undefined;
  let i = 2;
  let nsp = '/';
  if (d[i] === 0x2f) {
    const comma = d.indexOf(0x2c, i);
    const bracket = d.indexOf(0x5b, i);
    if (comma < 0 || (bracket >= 0 && bracket < comma)) return undefined;
    nsp = d.toString('utf8', i, comma);
    i = comma + 1;
  }
  const idStart = i;
  while (DIGIT(d[i])) i++;
  const id = i > idStart ? Number(d.toString('latin1', idStart, i)) : undefined;
  if (d[i] !== 0x5b) return undefined; // '['
  if (type === PacketType.ACK) return id === undefined ? undefined : { type, nsp, id };
  if (d[i + 1] !== 0x22) return undefined; // the name: a JSON string
  let j = i + 2;
  let escaped = false;
  while (j < d.length && d[j] !== 0x22) {
    if (d[j] === 0x5c) {
      escaped = true;
      j++;
    }
    j++;
  }
  if (j >= d.length || (d[j + 1] !== 0x2c && d[j + 1] !== 0x5d)) return undefined; // then ',' or ']'
  let name: string;
  try {
    name = escaped ? (JSON.parse(d.toString('utf8', i + 1, j + 1)) as string) : d.toString('utf8', i + 2, j);
  } catch {
    return undefined;
  }
  // Names socket.io-parser refuses to decode as an event.
  if (RESERVED_EVENTS.has(name)) return undefined;
  return { type, nsp, data: [name], ...(id !== undefined ? { id } : {}) };
}

function nameOf(name: string | undefined): { name?: string } {
  return name === undefined ? {} : { name };
}

function openDetail(data: unknown): string {
  try {
    const o = JSON.parse(String(data)) as { upgrades?: unknown; pingInterval?: unknown; pingTimeout?: unknown };
    const upgrades = Array.isArray(o.upgrades) ? o.upgrades.join(', ') || 'none' : 'none';
    return ` (upgrades: ${upgrades}; ping every ${String(o.pingInterval)} ms, timeout ${String(o.pingTimeout)} ms)`;
  } catch {
    return '';
  }
}

export const socketIo: ProtocolDecoder = {
  protocol: 'socket.io',
  subprotocols: [],
  readsBinary: true,
  matchesPath: (pathname, query) => query.has('EIO') || pathname.includes('/socket.io/'),
  // engine.io's open packet: the server's first message when a client comes straight to the WebSocket.
  sniff: (m) => m.from === 'server' && m.kind === 'text' && m.data.subarray(0, 8).toString('latin1') === '0{"sid":',
  open: (ctx) => new SocketIoSession(ctx, 'websocket'),
};
