/**
 * The handshake a replay sends: the recorded one, with the values the recording had to redact
 * filled from --secret (a credential by name: a query parameter, a header, a cookie, a
 * subprotocol entry), recorded headers replaced by --header and new ones added by --add-header.
 * Whatever is still redacted is sent as it is and said in the result.
 */
import type { RecordedSession } from '../recording/format.js';
import { REDACTED } from '../secrets/redact.js';
import { secretValues, type SecretValues } from './secrets.js';
import { queryName } from '../wire/query.js';

/** Headers the WebSocket client sets itself. */
const OWN_HEADERS = new Set([
  'host',
  'connection',
  'upgrade',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'content-length',
]);

export interface ReplayCredentials {
  /** --secret NAME=VALUE: names compared case-insensitively; a header's value is the whole header value. */
  secrets?: Record<string, string>;
  /** --header: replaces a header the recorded session had (case-insensitive name). */
  headers?: Record<string, string>;
  /** --add-header: adds a header the recorded session did not have. */
  addHeaders?: Record<string, string>;
}

export interface ReplayHandshake {
  path: string;
  headers: Record<string, string | string[]>;
  protocols: string[];
  /** Where a redacted value is sent as it is (no --secret for it). */
  stillRedacted: string[];
  /** --header names the recorded session did not have (not sent). */
  unusedHeaders: string[];
}

function fillQuery(path: string, secrets: SecretValues, still: string[]): string {
  const q = path.indexOf('?');
  if (q < 0) return path;
  const pairs = path
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0 || pair.slice(eq + 1) !== REDACTED) return pair;
      const name = queryName(pair.slice(0, eq));
      const value = secrets.get(name.toLowerCase());
      if (value === undefined) {
        still.push(`query parameter ${name}`);
        return pair;
      }
      return `${pair.slice(0, eq)}=${encodeURIComponent(value)}`;
    });
  return `${path.slice(0, q)}?${pairs.join('&')}`;
}

function fillCookie(value: string, secrets: SecretValues, still: string[]): string {
  return value
    .split(';')
    .map((part) => {
      const eq = part.indexOf('=');
      if (eq < 0 || part.slice(eq + 1).trim() !== REDACTED) return part;
      const name = part.slice(0, eq).trim();
      const secret = secrets.get(name.toLowerCase());
      if (secret === undefined) {
        still.push(`cookie ${name}`);
        return part;
      }
      return `${part.slice(0, eq)}=${secret}`;
    })
    .join(';');
}

/** What a replay offers in place of a redacted subprotocol entry it has no secret for. */
export const REDACTED_PROTOCOL = 'wstap-redacted';

/** A redacted subprotocol entry takes the secret named after the entry before it (access_token, token...) or Sec-WebSocket-Protocol. */
function fillProtocols(entries: string[], secrets: SecretValues, still: string[]): string[] {
  return entries.map((e, i) => {
    if (e !== REDACTED) return e;
    const secret = (i > 0 ? secrets.get(entries[i - 1]!.toLowerCase()) : undefined) ?? secrets.get('sec-websocket-protocol');
    if (secret === undefined) {
      still.push(`subprotocol entry ${i + 1}`);
      // "[redacted]" is no subprotocol token (brackets are separators): a client cannot send it.
      return REDACTED_PROTOCOL;
    }
    return secret;
  });
}

export function replayHandshake(s: RecordedSession, c: ReplayCredentials = {}): ReplayHandshake {
  const secrets = secretValues(c.secrets);
  const replace = secretValues(c.headers);
  const still: string[] = [];
  const path = fillQuery(s.open.request.path, secrets, still);
  const headers: Record<string, string | string[]> = {};
  const recordedNames = new Set<string>();
  let protocols: string[] = [];
  for (const h of s.open.request.headers) {
    const k = h.name.toLowerCase();
    recordedNames.add(k);
    if (k === 'sec-websocket-protocol')
      protocols.push(
        ...h.value
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean),
      );
    if (OWN_HEADERS.has(k)) continue;
    let value = replace.get(k) ?? h.value;
    if (!replace.has(k) && value.includes(REDACTED)) {
      if (k === 'cookie') value = fillCookie(value, secrets, still);
      else if (secrets.has(k)) value = secrets.get(k)!;
      else still.push(`header ${h.name}`);
    }
    const prev = headers[h.name];
    headers[h.name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  protocols = fillProtocols(protocols, secrets, still);
  for (const [k, v] of Object.entries(c.addHeaders ?? {})) headers[k] = v;
  const unusedHeaders = Object.keys(c.headers ?? {}).filter((k) => !recordedNames.has(k.toLowerCase()));
  return { path, headers, protocols, stillRedacted: still, unusedHeaders };
}
