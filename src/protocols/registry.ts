/**
 * The application protocol decoders, and how a session's protocol is found: --protocol
 * first (for every path, or for a path prefix), then the subprotocol the 101 chose (or the
 * only family the client offered), then the path and query; failing those, the first data
 * messages are sniffed (see tap/app-tap.ts). A new protocol is one file and one line here.
 */
import { APP_PROTOCOLS, type AppDetection, type AppProtocol } from '../session/app.js';
import { graphqlWs, subscriptionsTransportWs } from './graphql.js';
import { jsonRpc } from './json-rpc.js';
import { mqtt } from './mqtt.js';
import { socketIo } from './socketio.js';
import { stomp } from './stomp.js';
import type { ProtocolDecoder } from './types.js';
import { searchParams } from '../wire/query.js';

export const DECODERS: readonly ProtocolDecoder[] = [socketIo, graphqlWs, subscriptionsTransportWs, stomp, mqtt, jsonRpc];

const byName = new Map<AppProtocol, ProtocolDecoder>(DECODERS.map((d) => [d.protocol, d]));

export function decoderFor(protocol: AppProtocol): ProtocolDecoder {
  return byName.get(protocol)!;
}

/** --protocol: a protocol for every session ("socket.io"), or for a path prefix ("/graphql=graphql-ws"); "none" turns detection off. */
export interface ProtocolChoice {
  readonly protocol: AppProtocol | 'none';
  /** Applies to paths that start with this; every path when absent. */
  readonly path?: string;
}

export class ProtocolOptionError extends Error {}

const NAMES = [...APP_PROTOCOLS, 'none'] as const;

export function parseProtocolChoice(text: string): ProtocolChoice {
  const eq = text.lastIndexOf('=');
  const path = eq > 0 ? text.slice(0, eq) : undefined;
  const name = (eq > 0 ? text.slice(eq + 1) : text).trim().toLowerCase();
  if (!(NAMES as readonly string[]).includes(name)) {
    throw new ProtocolOptionError(
      `--protocol ${JSON.stringify(text)}: unknown protocol ${JSON.stringify(name)} (one of ${NAMES.join(', ')}, optionally after a path: /graphql=graphql-ws)`,
    );
  }
  if (path !== undefined && !path.startsWith('/'))
    throw new ProtocolOptionError(`--protocol ${JSON.stringify(text)}: the path must start with / (/graphql=graphql-ws)`);
  return { protocol: name as AppProtocol | 'none', ...(path !== undefined ? { path } : {}) };
}

export interface HandshakeEvidence {
  /** The request target: path and query. */
  readonly target: string;
  readonly offered: readonly string[];
  readonly chosen?: string;
}

/**
 * The protocol the handshake names: 'none' when --protocol turned detection off for this path,
 * undefined when the messages have to tell.
 */
export function detectFromHandshake(h: HandshakeEvidence, choices: readonly ProtocolChoice[] = []): AppDetection | 'none' | undefined {
  const q = h.target.indexOf('?');
  const pathname = q < 0 ? h.target : h.target.slice(0, q);
  // The longest matching path prefix wins; a choice without a path applies everywhere.
  let forced: ProtocolChoice | undefined;
  for (const c of choices) {
    if (c.path !== undefined && !pathname.startsWith(c.path)) continue;
    if (!forced || (c.path?.length ?? 0) > (forced.path?.length ?? 0)) forced = c;
  }
  if (forced) return forced.protocol === 'none' ? 'none' : { protocol: forced.protocol, by: 'forced' };
  const sub = (h.chosen ?? '').trim().toLowerCase();
  if (sub) {
    for (const d of DECODERS) if (d.subprotocols.includes(sub)) return { protocol: d.protocol, by: 'subprotocol' };
  } else if (h.offered.length) {
    // No subprotocol chosen: the client's offer still names the protocol when all of it is one family.
    const families = new Set(h.offered.map((o) => DECODERS.find((d) => d.subprotocols.includes(o.trim().toLowerCase()))?.protocol));
    const [only] = families;
    if (families.size === 1 && only !== undefined) return { protocol: only, by: 'subprotocol' };
  }
  const query = searchParams(h.target);
  for (const d of DECODERS) if (d.matchesPath?.(pathname, query)) return { protocol: d.protocol, by: 'path' };
  return undefined;
}
