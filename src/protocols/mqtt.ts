/**
 * MQTT 3.1, 3.1.1 and 5 over WebSocket, read with mqtt-packet's streaming parser (one per
 * direction: a packet may span WebSocket messages, and a message may hold several). Packet
 * identifiers pair PUBLISH with PUBACK (QoS 1) or PUBREC … PUBCOMP (QoS 2), SUBSCRIBE with
 * SUBACK, and CONNECT with CONNACK; the reason codes are named. The CONNECT's password is
 * never read into a line, and its user name only as "set".
 */
import mqttPacket from 'mqtt-packet';
import { inspectConnack, inspectMqttDisconnect, mqttReason } from '../inspect/app/mqtt.js';
import type { Side } from '../session/message.js';
import type { DecoderContext, DecoderInput, PacketDraft, ProtocolDecoder, SessionDecoder } from './types.js';
import { nameText } from './text.js';

type Packet = mqttPacket.Packet;
type Parser = mqttPacket.Parser & { settings?: { protocolVersion?: number } };

const other = (s: Side): Side => (s === 'client' ? 'server' : 'client');

class MqttSession implements SessionDecoder {
  private version = 4;
  private readonly parsers: Partial<Record<Side, Parser>> = {};
  private out: Packet[] = [];
  private failed: Error | undefined;
  /** The packet a side's messages are the parts of, while it is incomplete. */
  private readonly partOf: Partial<Record<Side, string>> = {};

  constructor(private readonly ctx: DecoderContext) {}

  private parser(side: Side): Parser {
    let p = this.parsers[side];
    if (!p) {
      p = mqttPacket.parser({ protocolVersion: this.version }) as Parser;
      p.on('packet', (packet: Packet) => this.out.push(packet));
      p.on('error', (err: Error) => (this.failed = err));
      this.parsers[side] = p;
    }
    return p;
  }

  decode(m: DecoderInput): readonly PacketDraft[] | undefined {
    if (m.kind !== 'binary') return undefined;
    if (m.truncated) return [{ type: 'truncated', line: 'MQTT message over --max-message-size: not decoded (the stream is lost from here)' }];
    this.out = [];
    this.failed = undefined;
    this.parser(m.from).parse(m.data);
    const packets = this.out;
    const failed = this.failed as Error | undefined;
    this.out = [];
    if (failed) {
      // Its state is lost with the bad packet: the next message starts afresh.
      delete this.parsers[m.from];
      return [...packets.map((p) => this.packet(m.from, p)), { type: 'unreadable', line: `MQTT unreadable packet: ${failed.message}` }];
    }
    if (packets.length === 0) {
      // mqtt.js over a WebSocket sends each field of a packet as a message of its own: the packet is named by its first byte.
      const started = this.partOf[m.from] === undefined;
      const type = (this.partOf[m.from] ??= PACKET_TYPES[(m.data[0] ?? 0) >> 4] ?? 'packet');
      return [{ type: 'part', line: `MQTT ${type} … (${started ? 'continues in the next message' : 'continued'})` }];
    }
    this.partOf[m.from] = undefined;
    return packets.map((p, i) => {
      const d = this.packet(m.from, p);
      return p.cmd === 'connect' ? { ...d, ...passwordAt(m.data, p, packets.slice(i + 1)) } : d;
    });
  }

  private packet(from: Side, p: Packet): PacketDraft {
    const v5 = this.version >= 5;
    switch (p.cmd) {
      case 'connect':
        return this.connect(p);
      case 'connack': {
        const code = (v5 ? p.reasonCode : p.returnCode) ?? 0;
        if (code === 0)
          return {
            type: 'CONNACK',
            line: `MQTT CONNACK accepted${p.sessionPresent ? ' (session present)' : ''}`,
            ends: { key: 'connect', final: true },
          };
        this.ctx.raise(inspectConnack(this.version, code));
        const message = mqttReason(this.version, code);
        return {
          type: 'CONNACK',
          line: `MQTT CONNACK refused: ${message} (${codeText(code, v5)})`,
          error: { code, message },
          ends: { key: 'connect', final: true, error: true },
        };
      }
      case 'publish':
        return publish(from, p);
      case 'puback':
      case 'pubrec':
      case 'pubcomp': {
        const id = String(p.messageId ?? '?');
        const code = v5 ? (p.reasonCode ?? 0) : 0;
        const err = code >= 0x80 ? { error: { code, message: mqttReason(5, code) } } : {};
        const final = p.cmd !== 'pubrec' || code >= 0x80;
        // PUBCOMP answers the PUBREL of the same flow: its publisher is on the other side too.
        return {
          type: p.cmd.toUpperCase(),
          id,
          line: `MQTT ${p.cmd.toUpperCase()} (id ${id})${err.error ? ` ${err.error.message}` : ''}`,
          ...err,
          ends: { key: `pub:${other(from)}:${id}`, final, ...(err.error ? { error: true } : {}) },
        };
      }
      case 'pubrel':
        return { type: 'PUBREL', id: String(p.messageId ?? '?'), line: `MQTT PUBREL (id ${String(p.messageId ?? '?')})` };
      case 'subscribe': {
        const subs = p.subscriptions.map((s) => `${nameText(s.topic)} qos${s.qos}`);
        const id = String(p.messageId ?? '?');
        const first = nameText(p.subscriptions[0]?.topic) ?? '?';
        const more = p.subscriptions.length > 1 ? ` +${p.subscriptions.length - 1}` : '';
        return {
          type: 'SUBSCRIBE',
          name: first,
          id,
          line: `MQTT SUBSCRIBE ${subs.join(', ')} (id ${id})`,
          starts: { key: `sub:${id}`, operation: `SUBSCRIBE ${first}${more}` },
        };
      }
      case 'suback': {
        const id = String(p.messageId ?? '?');
        const granted = (p.granted as (number | { qos: number })[]).map((g) => (typeof g === 'number' ? g : g.qos));
        const refused = granted.filter((g) => g >= 0x80);
        const err = refused.length ? { error: { code: refused[0]!, message: v5 ? mqttReason(5, refused[0]!) : 'subscription refused' } } : {};
        const text = granted.map((g) => (g >= 0x80 ? `refused (${codeText(g, v5)})` : `qos${g}`)).join(', ');
        return {
          type: 'SUBACK',
          id,
          line: `MQTT SUBACK (id ${id}) ${text}`,
          ...err,
          ends: { key: `sub:${id}`, final: true, ...(err.error ? { error: true } : {}) },
        };
      }
      case 'unsubscribe': {
        const id = String(p.messageId ?? '?');
        const first = nameText(p.unsubscriptions[0]) ?? '?';
        return {
          type: 'UNSUBSCRIBE',
          name: first,
          id,
          line: `MQTT UNSUBSCRIBE ${p.unsubscriptions.map((t) => nameText(t)).join(', ')} (id ${id})`,
          starts: { key: `unsub:${id}`, operation: `UNSUBSCRIBE ${first}` },
        };
      }
      case 'unsuback': {
        const id = String(p.messageId ?? '?');
        // MQTT 5: a reason code per topic filter, 0x80 and up refused.
        const codes = v5 ? (p.granted ?? []) : [];
        const refused = codes.find((c) => c >= 0x80);
        const err = refused !== undefined ? { error: { code: refused, message: mqttReason(5, refused) } } : {};
        return {
          type: 'UNSUBACK',
          id,
          line: `MQTT UNSUBACK (id ${id})${err.error ? ` refused: ${err.error.message}` : ''}`,
          ...err,
          ends: { key: `unsub:${id}`, final: true, ...(err.error ? { error: true } : {}) },
        };
      }
      case 'pingreq':
        return { type: 'PINGREQ', line: 'MQTT PINGREQ', starts: { key: 'ping', operation: 'PINGREQ' } };
      case 'pingresp':
        return { type: 'PINGRESP', line: 'MQTT PINGRESP', ends: { key: 'ping', final: true } };
      case 'disconnect': {
        const code = v5 ? (p.reasonCode ?? 0) : 0;
        const reason = nameText(p.properties?.reasonString);
        if (code >= 0x80) this.ctx.raise(inspectMqttDisconnect(from === 'client' ? 'client' : 'broker', code, reason));
        const said = code ? `: ${mqttReason(5, code)} (${codeText(code, true)})${reason ? ` "${reason}"` : ''}` : '';
        return { type: 'DISCONNECT', line: `MQTT DISCONNECT${said}`, ...(code >= 0x80 ? { error: { code, message: mqttReason(5, code) } } : {}) };
      }
      default:
        return { type: p.cmd.toUpperCase(), line: `MQTT ${p.cmd.toUpperCase()}` };
    }
  }

  private connect(p: mqttPacket.IConnectPacket): PacketDraft {
    this.version = p.protocolVersion ?? 4;
    const parser = this.parsers.client;
    if (parser?.settings) parser.settings.protocolVersion = this.version;
    const bits = [
      p.clean === false ? 'persistent session' : 'clean',
      `keep-alive ${p.keepalive ?? 0} s`,
      ...(p.username !== undefined ? ['user set'] : []),
      ...(p.password !== undefined ? ['password set'] : []),
      ...(p.will ? ['will'] : []),
    ];
    return {
      type: 'CONNECT',
      line: `MQTT CONNECT v${versionName(this.version)} client ${JSON.stringify(nameText(p.clientId) ?? '')} (${bits.join(', ')})`,
      starts: { key: 'connect', operation: 'CONNECT' },
    };
  }
}

function publish(from: Side, p: mqttPacket.IPublishPacket): PacketDraft {
  const alias = p.properties?.topicAlias;
  const topic = nameText(p.topic) || (alias !== undefined ? `(topic alias ${alias})` : '?');
  const id = p.qos > 0 && p.messageId !== undefined ? String(p.messageId) : undefined;
  const size = typeof p.payload === 'string' ? Buffer.byteLength(p.payload) : p.payload.length;
  const extra = [...(id !== undefined ? [`id ${id}`] : []), `${size} bytes`, ...(p.retain ? ['retain'] : []), ...(p.dup ? ['dup'] : [])];
  return {
    type: 'PUBLISH',
    name: topic,
    ...(id !== undefined ? { id } : {}),
    line: `MQTT PUBLISH ${topic} qos${p.qos} (${extra.join(', ')})`,
    ...(id !== undefined ? { starts: { key: `pub:${from}:${id}`, operation: `PUBLISH ${topic} qos${p.qos}` } } : {}),
  };
}

/** Bytes of a packet on the wire: its first byte, its remaining length (1 to 4 bytes), and that many. */
const wireSize = (p: Packet): number => {
  const n = p.length ?? 0;
  return 1 + (n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4) + n;
};

/**
 * Where a CONNECT's password is in the message: the CONNECT's last field, so its last bytes,
 * which end where the packets after it in this message begin. Masked in every output. A
 * password that began in an earlier message (a client that split it) is masked from the
 * start of this one.
 */
function passwordAt(data: Buffer, p: mqttPacket.IConnectPacket, after: readonly Packet[]): { secrets?: [number, number][] } {
  const pw = p.password;
  if (pw === undefined || pw.length === 0) return {};
  const bytes = Buffer.isBuffer(pw) ? pw : Buffer.from(String(pw));
  const end = data.length - after.reduce((n, q) => n + wireSize(q), 0);
  if (end <= 0) return {};
  const start = end - bytes.length;
  if (start >= 0 && data.subarray(start, end).equals(bytes)) return { secrets: [[start, end]] };
  if (start < 0 && bytes.subarray(bytes.length - end).equals(data.subarray(0, end))) return { secrets: [[0, end]] };
  return {};
}

/** MQTT control packet types by the high nibble of their first byte. */
const PACKET_TYPES = [
  '',
  'CONNECT',
  'CONNACK',
  'PUBLISH',
  'PUBACK',
  'PUBREC',
  'PUBREL',
  'PUBCOMP',
  'SUBSCRIBE',
  'SUBACK',
  'UNSUBSCRIBE',
  'UNSUBACK',
  'PINGREQ',
  'PINGRESP',
  'DISCONNECT',
  'AUTH',
];

const versionName = (v: number): string => (v === 5 ? '5' : v === 4 ? '3.1.1' : '3.1');
const codeText = (code: number, v5: boolean): string => (v5 ? `0x${code.toString(16)}` : `return code ${code}`);

/** A CONNECT packet: type 1, then the protocol name MQTT (3.1.1, 5) or MQIsdp (3.1) after the remaining length. */
function looksLikeConnect(data: Buffer): boolean {
  if (data.length < 8 || data[0] !== 0x10) return false;
  let i = 1;
  while (i < 5 && data[i]! & 0x80) i++;
  const name = data.subarray(i + 3, i + 9).toString('latin1');
  return name.startsWith('MQTT') || name.startsWith('MQIsdp');
}

export const mqtt: ProtocolDecoder = {
  protocol: 'mqtt',
  subprotocols: ['mqtt', 'mqttv3.1'],
  readsBinary: true,
  sniff: (m) => m.from === 'client' && m.kind === 'binary' && looksLikeConnect(m.data),
  open: (ctx) => new MqttSession(ctx),
};
