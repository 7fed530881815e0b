/**
 * STOMP 1.0–1.2 over WebSocket (RabbitMQ web-stomp, Spring's message broker, ActiveMQ):
 * frames read per STOMP's grammar (COMMAND, headers with 1.2's escapes, a body up to NUL),
 * heart-beats (a lone EOL) and the heart-beating the two sides negotiated; receipts paired
 * with the frames that asked for them. Credentials (passcode) are never read into a line.
 */
import { inspectStompError, inspectStompHeartbeat } from '../inspect/app/stomp.js';
import type { Finding } from '../session/finding.js';
import type { Side } from '../session/message.js';
import type { CloseSummary } from '../session/summary.js';
import type { DecoderContext, DecoderInput, PacketDraft, ProtocolDecoder, SessionDecoder } from './types.js';
import { nameText } from './text.js';

const COMMANDS = new Set([
  'CONNECT',
  'STOMP',
  'CONNECTED',
  'SEND',
  'SUBSCRIBE',
  'UNSUBSCRIBE',
  'ACK',
  'NACK',
  'BEGIN',
  'COMMIT',
  'ABORT',
  'DISCONNECT',
  'MESSAGE',
  'RECEIPT',
  'ERROR',
]);

export interface StompFrame {
  command: string;
  /** First value of each header (STOMP: the first one counts), names as sent. */
  headers: Map<string, string>;
  bodyBytes: number;
  body: Buffer;
}

const unescapeHeader = (v: string): string =>
  v.replace(/\\([rnc\\])/g, (_, c: string) => (c === 'r' ? '\r' : c === 'n' ? '\n' : c === 'c' ? ':' : '\\'));

/** The frames of one WebSocket message; undefined when it is not STOMP. A message of EOLs only is a heart-beat: []. */
export function parseStompFrames(data: Buffer): StompFrame[] | undefined {
  const frames: StompFrame[] = [];
  let at = 0;
  while (at < data.length) {
    // EOLs between frames are heart-beats.
    while (at < data.length && (data[at] === 0x0a || data[at] === 0x0d)) at++;
    if (at >= data.length) break;
    const head = findHeadEnd(data, at);
    if (!head) return undefined;
    const lines = data.toString('utf8', at, head.end).split(/\r?\n/);
    const command = lines[0]!;
    if (!COMMANDS.has(command)) return undefined;
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon);
      if (!headers.has(name))
        headers.set(name, command === 'CONNECT' || command === 'CONNECTED' ? line.slice(colon + 1) : unescapeHeader(line.slice(colon + 1)));
    }
    const bodyStart = head.body;
    const declared = Number(headers.get('content-length'));
    let end = Number.isInteger(declared) && declared >= 0 && bodyStart + declared <= data.length ? bodyStart + declared : data.indexOf(0, bodyStart);
    if (end < 0) end = data.length;
    frames.push({ command, headers, bodyBytes: end - bodyStart, body: data.subarray(bodyStart, end) });
    at = end + 1;
  }
  return frames;
}

/** The end of the command and header lines, and where the body starts (after the blank line). */
function findHeadEnd(data: Buffer, from: number): { end: number; body: number } | undefined {
  for (let i = from; i < data.length; i++) {
    const c = data[i];
    if (c === 0) return { end: i, body: i }; // a frame without a blank line: no body
    if (c !== 0x0a) continue;
    // i ends a line; a blank line follows when the next is \n or \r\n
    const end = data[i - 1] === 0x0d ? i - 1 : i;
    if (data[i + 1] === 0x0a) return { end, body: i + 2 };
    if (data[i + 1] === 0x0d && data[i + 2] === 0x0a) return { end, body: i + 3 };
  }
  return undefined;
}

/** Header values that carry a credential in a CONNECT (passcode, Authorization, X-Api-Key, access_token...): masked in every output. */
const CREDENTIAL_HEADER = /(?:^|\n)([\w-]*(?:token|authorization|passcode|password|api[-_]?key|secret))[ \t]*:([^\r\n\0]*)/gi;

function credentialHeaders(data: Buffer): [number, number][] {
  // latin1: one character a byte, so the offsets are byte offsets.
  const text = data.toString('latin1', 0, Math.min(data.length, 16 * 1024));
  const out: [number, number][] = [];
  for (const m of text.matchAll(CREDENTIAL_HEADER)) {
    const value = m[2]!;
    if (!value) continue;
    const end = m.index + m[0].length;
    out.push([end - value.length, end]);
  }
  return out;
}

const heartBeat = (v: string | undefined): [number, number] => {
  const [a, b] = (v ?? '0,0').split(',').map((n) => Number(n.trim()));
  return [Number.isFinite(a) ? a! : 0, Number.isFinite(b) ? b! : 0];
};

/** Silence up to one and a half intervals (and half a second) is within tolerance: brokers give up after about two. */
const missedAfter = (interval: number): number => interval * 1.5 + 500;

class StompSession implements SessionDecoder {
  private clientBeat: [number, number] = [0, 0];
  /** Negotiated: the longest a side may stay silent, ms (0: that side does not heart-beat). */
  private readonly interval: Record<Side, number> = { client: 0, server: 0 };
  private readonly lastAt: Partial<Record<Side, number>> = {};
  private readonly worstGap: Partial<Record<Side, number>> = {};
  private readonly subscriptions = new Map<string, string>();
  private lastCommand: string | undefined;
  private connected = false;

  constructor(private readonly ctx: DecoderContext) {}

  decode(m: DecoderInput): readonly PacketDraft[] | undefined {
    if (m.kind !== 'text' && m.kind !== 'binary') return undefined;
    const frames = parseStompFrames(m.data);
    if (!frames) return undefined;
    this.heard(m.from, m.lastByteAt);
    if (frames.length === 0) return [{ type: 'heart-beat', line: 'STOMP heart-beat' }];
    const out = frames.map((f) => this.frame(m.from, f));
    if (m.from === 'client' && frames.some((f) => f.command === 'CONNECT' || f.command === 'STOMP')) {
      const secrets = credentialHeaders(m.data);
      if (secrets.length) out[0] = { ...out[0]!, secrets };
    }
    return out;
  }

  private heard(side: Side, at: number): void {
    const last = this.lastAt[side];
    if (last !== undefined && this.interval[side] > 0) this.worstGap[side] = Math.max(this.worstGap[side] ?? 0, at - last);
    this.lastAt[side] = at;
  }

  private frame(from: Side, f: StompFrame): PacketDraft {
    const h = f.headers;
    const receipt = nameText(h.get('receipt'));
    const destination = nameText(h.get('destination'));
    const size = f.bodyBytes ? ` (${f.bodyBytes} bytes)` : '';
    if (from === 'client') this.lastCommand = f.command;
    const asks = (operation: string) => (receipt !== undefined ? { starts: { key: `receipt:${receipt}`, operation } } : {});
    switch (f.command) {
      case 'CONNECT':
      case 'STOMP': {
        this.clientBeat = heartBeat(h.get('heart-beat'));
        const login = h.has('login') ? ', login set' : '';
        const host = h.has('host') ? ` host=${nameText(h.get('host'))}` : '';
        return {
          type: f.command,
          line: `STOMP ${f.command}${host} (accept-version ${h.get('accept-version') ?? '1.0'}${login}, heart-beat ${h.get('heart-beat') ?? '0,0'})`,
          starts: { key: 'connect', operation: 'CONNECT' },
        };
      }
      case 'CONNECTED': {
        this.connected = true;
        const [sx, sy] = heartBeat(h.get('heart-beat'));
        const [cx, cy] = this.clientBeat;
        this.interval.client = cx && sy ? Math.max(cx, sy) : 0;
        this.interval.server = sx && cy ? Math.max(sx, cy) : 0;
        const beats = `heart-beat client every ${this.interval.client || '-'} ms, broker every ${this.interval.server || '-'} ms`;
        return { type: 'CONNECTED', line: `STOMP CONNECTED version ${h.get('version') ?? '1.0'} (${beats})`, ends: { key: 'connect', final: true } };
      }
      case 'SEND':
        return {
          type: 'SEND',
          ...(destination ? { name: destination } : {}),
          line: `STOMP SEND ${destination ?? '?'}${size}${receipt ? ` [receipt ${receipt}]` : ''}`,
          ...asks(`SEND ${destination ?? '?'}`),
        };
      case 'SUBSCRIBE': {
        const id = h.get('id');
        if (id !== undefined && destination && this.subscriptions.size < 10_000) this.subscriptions.set(id, destination);
        return {
          type: 'SUBSCRIBE',
          ...(destination ? { name: destination } : {}),
          ...(id ? { id } : {}),
          line: `STOMP SUBSCRIBE ${destination ?? '?'} (id ${id ?? '?'})${receipt ? ` [receipt ${receipt}]` : ''}`,
          ...asks(`SUBSCRIBE ${destination ?? '?'}`),
        };
      }
      case 'UNSUBSCRIBE': {
        const id = h.get('id');
        const dest = id !== undefined ? this.subscriptions.get(id) : undefined;
        return {
          type: 'UNSUBSCRIBE',
          ...(dest ? { name: dest } : {}),
          line: `STOMP UNSUBSCRIBE ${dest ?? `id ${id ?? '?'}`}`,
          ...asks(`UNSUBSCRIBE ${dest ?? '?'}`),
        };
      }
      case 'MESSAGE': {
        const sub = h.get('subscription');
        return {
          type: 'MESSAGE',
          ...(destination ? { name: destination } : {}),
          line: `STOMP MESSAGE ${destination ?? '?'}${sub ? ` (subscription ${sub})` : ''}${size}`,
        };
      }
      case 'RECEIPT': {
        const id = nameText(h.get('receipt-id'));
        return {
          type: 'RECEIPT',
          line: `STOMP RECEIPT ${id ?? '?'}`,
          ...(id !== undefined ? { id, ends: { key: `receipt:${id}`, final: true } } : {}),
        };
      }
      case 'ERROR': {
        const body = f.body.toString('utf8', 0, Math.min(f.body.length, 300)).trim();
        const message = h.get('message') ?? (body.split('\n')[0] || 'ERROR');
        this.ctx.raise(inspectStompError(message, this.lastCommand, body));
        const id = nameText(h.get('receipt-id'));
        const ends =
          id !== undefined
            ? { ends: { key: `receipt:${id}`, final: true, error: true } }
            : !this.connected
              ? { ends: { key: 'connect', final: true, error: true } }
              : {};
        return { type: 'ERROR', line: `STOMP ERROR "${message}"`, error: { message }, ...ends };
      }
      default:
        return { type: f.command, line: `STOMP ${f.command}${receipt ? ` [receipt ${receipt}]` : ''}`, ...asks(f.command) };
    }
  }

  end(_close: CloseSummary | undefined, endAt: number): readonly Finding[] {
    const out: Finding[] = [];
    for (const side of ['client', 'server'] as const) {
      const interval = this.interval[side];
      const last = this.lastAt[side];
      if (!interval || last === undefined) continue;
      const tail = endAt - last;
      const worst = Math.max(this.worstGap[side] ?? 0, tail);
      if (worst > missedAfter(interval)) out.push(inspectStompHeartbeat(side === 'client' ? 'client' : 'broker', interval, worst, worst === tail));
    }
    return out;
  }
}

const STOMP_START = /^(CONNECT|STOMP)\r?\n/;

export const stomp: ProtocolDecoder = {
  protocol: 'stomp',
  subprotocols: ['v12.stomp', 'v11.stomp', 'v10.stomp'],
  readsBinary: false,
  sniff: (m) => m.from === 'client' && m.kind === 'text' && STOMP_START.test(m.data.subarray(0, 10).toString('latin1')),
  open: (ctx) => new StompSession(ctx),
};
