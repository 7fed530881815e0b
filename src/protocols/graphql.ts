/**
 * GraphQL over WebSocket: graphql-ws's protocol (subprotocol graphql-transport-ws:
 * connection_init/ack, ping/pong, subscribe, next, error, complete) and the legacy
 * subscriptions-transport-ws (subprotocol graphql-ws: start, data, stop, ka,
 * connection_error, connection_terminate). Each operation is named by its type and
 * operationName (or the name in its document), paired by id with its first result and its end.
 */
import { inspectGraphqlClose, inspectInitUnacked, inspectOperationError } from '../inspect/app/graphql.js';
import type { AppProtocol } from '../session/app.js';
import type { Finding } from '../session/finding.js';
import type { CloseSummary } from '../session/summary.js';
import type { DecoderInput, PacketDraft, ProtocolDecoder, SessionDecoder } from './types.js';
import { nameText } from './text.js';

interface GraphqlMessage {
  type?: unknown;
  id?: unknown;
  payload?: unknown;
}

/** Operations whose names are kept for their results' lines (a session that starts more forgets the oldest). */
const MAX_NAMES = 10_000;

const DEFINITION = /(?:^|[\s}])(query|mutation|subscription)\b\s*([_A-Za-z][_0-9A-Za-z]*)?/;

/** "subscription OnMessage" from a subscribe's payload: its operationName, else the first definition in the document. */
export function operationOf(payload: unknown): { kind: string; name: string } {
  const p = (payload ?? {}) as { query?: unknown; operationName?: unknown };
  const query = typeof p.query === 'string' ? p.query.replace(/#[^\n]*/g, '') : '';
  const m = DEFINITION.exec(query);
  const kind = m?.[1] ?? (query.trimStart().startsWith('{') ? 'query' : 'operation');
  const name = nameText(p.operationName) ?? m?.[2] ?? 'anonymous';
  return { kind, name };
}

function firstError(payload: unknown): string {
  const list = Array.isArray(payload) ? payload : [payload];
  const e = list[0] as { message?: unknown } | undefined;
  return typeof e?.message === 'string' ? e.message : typeof e === 'string' ? e : 'error';
}

class GraphqlSession implements SessionDecoder {
  private readonly names = new Map<string, string>();
  private initAt: number | undefined;
  private acked = false;
  private errors = 0;
  private firstError: { operation: string; message: string } | undefined;

  constructor(private readonly protocol: AppProtocol) {}

  decode(m: DecoderInput): readonly PacketDraft[] | undefined {
    if (m.kind !== 'text') return undefined;
    if (m.truncated) return [{ type: 'truncated', line: 'graphql message over --max-message-size: not decoded' }];
    let msg: GraphqlMessage;
    try {
      msg = JSON.parse(m.data.toString('utf8')) as GraphqlMessage;
    } catch {
      return undefined;
    }
    if (typeof msg !== 'object' || msg === null || typeof msg.type !== 'string') return undefined;
    return [this.packet(m, msg, msg.type)];
  }

  private named(id: string): string {
    return this.names.get(id) ?? `id ${id}`;
  }

  private packet(m: DecoderInput, msg: GraphqlMessage, type: string): PacketDraft {
    const id = typeof msg.id === 'string' || typeof msg.id === 'number' ? String(msg.id).slice(0, 80) : undefined;
    const key = `op:${id}`;
    const withId = id !== undefined ? { id } : {};
    switch (type) {
      case 'connection_init':
        this.initAt ??= m.lastByteAt;
        return {
          type,
          line: `graphql connection_init${msg.payload ? ' (with payload)' : ''}`,
          starts: { key: 'init', operation: 'connection_init' },
        };
      case 'connection_ack':
        this.acked = true;
        return { type, line: 'graphql connection_ack', ends: { key: 'init', final: true } };
      case 'connection_error': {
        const message = firstError(msg.payload);
        return { type, line: `graphql connection_error "${message}"`, error: { message }, ends: { key: 'init', final: true, error: true } };
      }
      case 'ka':
        return { type, line: 'graphql keep-alive' };
      case 'ping':
      case 'pong':
        return type === 'ping'
          ? { type, line: 'graphql ping', starts: { key: `ping:${m.from}`, operation: 'graphql ping' } }
          : { type, line: 'graphql pong', ends: { key: `ping:${m.from === 'client' ? 'server' : 'client'}`, final: true } };
      case 'subscribe':
      case 'start': {
        const op = operationOf(msg.payload);
        const label = `${op.kind} ${op.name}`;
        if (id !== undefined) {
          if (this.names.size >= MAX_NAMES) this.names.delete(this.names.keys().next().value!);
          this.names.set(id, op.name);
        }
        return {
          type,
          name: op.name,
          ...withId,
          line: `graphql ${type} ${op.name} (${op.kind}, id ${id ?? '?'})`,
          // A subscription waits for events: one that got none before the end is no unanswered request.
          ...(id !== undefined ? { starts: { key, operation: label, ...(op.kind === 'subscription' ? { mayStayOpen: true } : {}) } } : {}),
        };
      }
      case 'next':
      case 'data': {
        const name = id !== undefined ? this.named(id) : '?';
        const errs = (msg.payload as { errors?: unknown } | undefined)?.errors;
        const error = Array.isArray(errs) && errs.length ? { error: { message: firstError(errs) } } : {};
        return {
          type,
          name,
          ...withId,
          line: `graphql ${type} ${name} (id ${id ?? '?'})${error.error ? ` with errors: "${error.error.message}"` : ''}`,
          ...error,
          ...(id !== undefined ? { ends: { key, final: false } } : {}),
        };
      }
      case 'error': {
        const name = id !== undefined ? this.named(id) : '?';
        const message = firstError(msg.payload);
        this.errors++;
        this.firstError ??= { operation: name, message };
        return {
          type,
          name,
          ...withId,
          line: `graphql error ${name} (id ${id ?? '?'}) "${message}"`,
          error: { message },
          ...(id !== undefined ? { ends: { key, final: true, error: true } } : {}),
        };
      }
      case 'complete':
      case 'stop': {
        const name = id !== undefined ? this.named(id) : '?';
        if (id !== undefined && m.from === 'server') this.names.delete(id);
        const who = m.from === 'client' ? ' (cancelled by the client)' : '';
        return {
          type,
          name,
          ...withId,
          line: `graphql ${type} ${name} (id ${id ?? '?'})${who}`,
          ...(id !== undefined ? { ends: { key, final: true } } : {}),
        };
      }
      case 'connection_terminate':
        return { type, line: 'graphql connection_terminate' };
      default:
        // The wire's type string is no key of ours (a type count per distinct string would grow with the traffic).
        return { type: 'unknown', line: `graphql ${nameText(type)} (not a message type of ${this.protocol})` };
    }
  }

  end(close: CloseSummary | undefined, endAt: number): readonly Finding[] {
    const out: Finding[] = [];
    if (close && (close.initiator === 'client' || close.initiator === 'server')) {
      const f = inspectGraphqlClose(close.code, close.reason, close.initiator);
      if (f) out.push(f);
    }
    if (this.initAt !== undefined && !this.acked && out.length === 0) out.push(inspectInitUnacked(endAt - this.initAt));
    if (this.firstError) out.push(inspectOperationError(this.firstError.operation, this.firstError.message, this.errors));
    return out;
  }
}

const sniffInit = (m: DecoderInput): boolean =>
  m.from === 'client' && m.kind === 'text' && /^\{\s*"type"\s*:\s*"connection_init"/.test(m.data.subarray(0, 40).toString('latin1'));

export const graphqlWs: ProtocolDecoder = {
  protocol: 'graphql-ws',
  subprotocols: ['graphql-transport-ws'],
  readsBinary: false,
  sniff: sniffInit,
  open: () => new GraphqlSession('graphql-ws'),
};

/** The legacy protocol of subscriptions-transport-ws (Apollo before graphql-ws), whose subprotocol is confusingly named graphql-ws. */
export const subscriptionsTransportWs: ProtocolDecoder = {
  protocol: 'subscriptions-transport-ws',
  subprotocols: ['graphql-ws'],
  readsBinary: false,
  open: () => new GraphqlSession('subscriptions-transport-ws'),
};
