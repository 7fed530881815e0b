/** Phase app, for every protocol: JSON-RPC error responses, requests that were never answered. */
import type { Finding, FindingCodeOf } from '../../session/finding.js';
import { finding } from '../finding.js';

type OperationFinding = Finding<FindingCodeOf<'app'>>;

/** JSON-RPC 2.0's reserved codes. */
const JSONRPC_CODES: Record<number, string> = {
  [-32700]: 'parse error',
  [-32600]: 'invalid request',
  [-32601]: 'method not found',
  [-32602]: 'invalid params',
  [-32603]: 'internal error',
};

export function jsonRpcCodeMeaning(code: number): string | undefined {
  if (JSONRPC_CODES[code]) return JSONRPC_CODES[code];
  if (code >= -32099 && code <= -32000) return 'server error';
  return undefined;
}

export interface RpcErrorCount {
  code: number | string;
  method?: string;
  message: string;
  count: number;
}

/** Error responses of a session, by code and method. */
export function inspectJsonRpcErrors(errors: readonly RpcErrorCount[]): OperationFinding | undefined {
  if (errors.length === 0) return undefined;
  const total = errors.reduce((n, e) => n + e.count, 0);
  const parts = errors.slice(0, 5).map((e) => {
    const meaning = typeof e.code === 'number' ? jsonRpcCodeMeaning(e.code) : undefined;
    return `${e.code}${meaning ? ` ${meaning}` : ''} "${e.message}"${e.method ? ` (${e.method})` : ''}${e.count > 1 ? ` ×${e.count}` : ''}`;
  });
  const more = errors.length > 5 ? `, and ${errors.length - 5} more` : '';
  const codes = new Set(errors.map((e) => e.code));
  const hint = codes.has(-32601)
    ? 'Method not found: the server does not serve that method (a typo, an API namespace that is not enabled, e.g. an Ethereum node without --http.api/--ws.api for it).'
    : codes.has(-32602) || codes.has(-32600) || codes.has(-32700)
      ? 'The server could not read the request: compare the params with the method\'s signature (by position or by name), and the request with JSON-RPC 2.0 ("jsonrpc": "2.0", a method, an id).'
      : 'The server failed the requests: its message says why, and its logs at this moment more.';
  return finding('jsonrpc-error', `${total} JSON-RPC error response${total === 1 ? '' : 's'}: ${parts.join(', ')}${more}.`, hint);
}

export interface Unanswered {
  operation: string;
  count: number;
}

/** Operations started and never answered before the session ended. */
export function inspectUnanswered(protocol: string, list: readonly Unanswered[], ended: string): OperationFinding | undefined {
  if (list.length === 0) return undefined;
  const total = list.reduce((n, u) => n + u.count, 0);
  const parts = list.slice(0, 5).map((u) => `${u.operation}${u.count > 1 ? ` ×${u.count}` : ''}`);
  const more = list.length > 5 ? `, and ${list.length - 5} more` : '';
  return finding(
    'operation-unanswered',
    `${total} ${protocol} request${total === 1 ? ' was' : 's were'} never answered before the session ${ended}: ${parts.join(', ')}${more}.`,
    'The other side never answered: a handler that never calls its callback (a Socket.IO ack), throws without answering, or waits on something that never came; or the session ended too soon. Each line of the live view links a request to its answer.',
  );
}
