/**
 * JSON-RPC 2.0 (Ethereum nodes, LSP bridges, MCP): requests, notifications, responses,
 * errors and batches; a response is paired with its request by id (and the side that
 * asked: both sides may call each other), its error code named.
 */
import { inspectJsonRpcErrors, jsonRpcCodeMeaning, type RpcErrorCount } from '../inspect/app/operations.js';
import type { Finding } from '../session/finding.js';
import type { Side } from '../session/message.js';
import type { DecoderInput, PacketDraft, ProtocolDecoder, SessionDecoder } from './types.js';
import { idText, nameText } from './text.js';

interface RpcObject {
  jsonrpc?: unknown;
  method?: unknown;
  id?: unknown;
  result?: unknown;
  error?: { code?: unknown; message?: unknown };
  params?: unknown;
}

const other = (s: Side): Side => (s === 'client' ? 'server' : 'client');
/** Requests whose method is kept to name their response (a session with more forgets the oldest). */
const MAX_METHODS = 10_000;
const MAX_ERROR_KINDS = 50;

class JsonRpcSession implements SessionDecoder {
  private readonly methods = new Map<string, string>();
  private readonly errors = new Map<string, RpcErrorCount>();

  decode(m: DecoderInput): readonly PacketDraft[] | undefined {
    // Text, or binary frames of UTF-8 JSON (some clients send their JSON as binary).
    if (m.kind !== 'text' && m.kind !== 'binary') return undefined;
    if (m.truncated) return [{ type: 'truncated', line: 'JSON-RPC message over --max-message-size: not decoded' }];
    let v: unknown;
    try {
      v = JSON.parse(m.data.toString('utf8'));
    } catch {
      return undefined;
    }
    if (Array.isArray(v)) {
      if (v.length === 0 || !v.every(isRpc)) return undefined;
      const packets = v.map((o) => this.one(m.from, o as RpcObject));
      // One line for the batch: "JSON-RPC batch of 2: request a (id 1); request b (id 2)".
      return packets.map((p, i) => ({
        ...p,
        line: i === 0 ? `JSON-RPC batch of ${v.length}: ${p.line.replace(/^JSON-RPC /, '')}` : p.line.replace(/^JSON-RPC /, ''),
      }));
    }
    return isRpc(v) ? [this.one(m.from, v as RpcObject)] : undefined;
  }

  private one(from: Side, o: RpcObject): PacketDraft {
    const id = idText(o.id);
    const method = nameText(o.method);
    if (method !== undefined) {
      if (id === undefined) return { type: 'notification', name: method, line: `JSON-RPC notification ${method}` };
      const key = `${from}:${id}`;
      if (this.methods.size >= MAX_METHODS) this.methods.delete(this.methods.keys().next().value!);
      this.methods.set(key, method);
      return { type: 'request', name: method, id, line: `JSON-RPC request ${method} (id ${id})`, starts: { key, operation: method } };
    }
    const key = `${other(from)}:${id}`;
    const asked = id !== undefined ? this.methods.get(key) : undefined;
    if (id !== undefined) this.methods.delete(key);
    const withName = asked !== undefined ? { name: asked } : {};
    const withId = id !== undefined ? { id } : {};
    const ends = id !== undefined ? { key, final: true } : undefined;
    if (o.error !== undefined && o.error !== null) {
      const code = typeof o.error.code === 'number' || typeof o.error.code === 'string' ? o.error.code : '?';
      const message = typeof o.error.message === 'string' ? o.error.message.slice(0, 200) : 'error';
      this.count(code, asked, message);
      const meaning = typeof code === 'number' ? jsonRpcCodeMeaning(code) : undefined;
      return {
        type: 'error',
        ...withName,
        ...withId,
        line: `JSON-RPC error ${code}${meaning ? ` (${meaning})` : ''} "${message}"${asked ? ` for ${asked}` : ''} (id ${id ?? 'null'})`,
        error: { code, message },
        ...(ends ? { ends: { ...ends, error: true } } : {}),
      };
    }
    return {
      type: 'result',
      ...withName,
      ...withId,
      line: `JSON-RPC result${asked ? ` of ${asked}` : ''} (id ${id ?? '?'})`,
      ...(ends ? { ends } : {}),
    };
  }

  private count(code: number | string, method: string | undefined, message: string): void {
    const k = `${code} ${method ?? ''}`;
    const e = this.errors.get(k);
    if (e) e.count++;
    else if (this.errors.size < MAX_ERROR_KINDS) this.errors.set(k, { code, ...(method !== undefined ? { method } : {}), message, count: 1 });
  }

  end(): readonly Finding[] {
    const f = inspectJsonRpcErrors([...this.errors.values()].sort((a, b) => b.count - a.count));
    return f ? [f] : [];
  }
}

function isRpc(v: unknown): boolean {
  return typeof v === 'object' && v !== null && (v as RpcObject).jsonrpc === '2.0';
}

export const jsonRpc: ProtocolDecoder = {
  protocol: 'json-rpc',
  subprotocols: ['jsonrpc', 'json-rpc', 'jsonrpc-2.0'],
  readsBinary: true,
  // "jsonrpc":"2.0" among the first bytes of a JSON object or array.
  sniff: (m) =>
    m.kind === 'text' && (m.data[0] === 0x7b || m.data[0] === 0x5b) && /"jsonrpc"\s*:\s*"2\.0"/.test(m.data.subarray(0, 200).toString('latin1')),
  open: () => new JsonRpcSession(),
};
