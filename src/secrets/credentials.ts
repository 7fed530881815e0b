/**
 * Where a WebSocket client may carry a credential, and what shape it has.
 * Secrets never leave this module: a Credential holds the kind, the name and the
 * shape (length, JWT claims that are safe to show), never the value.
 */
import type { HeaderLine } from '../wire/http-head.js';

export type CredentialKind = 'authorization' | 'query' | 'cookie' | 'subprotocol' | 'header';

export interface JwtFacts {
  alg?: string;
  /** Expiry, seconds since the epoch, when the token carries one. */
  exp?: number;
  iat?: number;
  expired: boolean;
}

export interface Credential {
  kind: CredentialKind;
  /** Header, query parameter or cookie name ("Authorization", "token", "session"). */
  name: string;
  /** "Bearer", "Basic", ... for Authorization. */
  scheme?: string;
  /** A description that is safe to print: "JWT HS256, 143 chars", "opaque, 32 chars". */
  shape: string;
  jwt?: JwtFacts;
}

/** Query parameter names that carry credentials (compared case-insensitively). */
export const TOKEN_PARAM =
  /^(?:token|access[_-]?token|id[_-]?token|refresh[_-]?token|auth|auth[_-]?token|authorization|jwt|bearer|api[_-]?key|apikey|key|session|session[_-]?id|sid|jsessionid|phpsessid|ticket|password|passwd|secret|signature|sig|x-amz-signature|.*[_-]token)$/i;

/** Headers other than Authorization and Cookie whose values are secrets. */
export const SECRET_HEADER =
  /^(?:authorization|proxy-authorization|cookie|set-cookie|x-api-key|x-auth-token|x-access-token|x-csrf-token|x-xsrf-token|api-key|x-amz-security-token)$/i;

/** Subprotocol entries that announce a token in the next entry (a common browser workaround). */
const TOKEN_MARKER = /^(?:access[_-]?token|token|bearer|authorization|auth|jwt)$/i;
const K8S_BEARER = 'base64url.bearer.authorization.k8s.io.';

const JWT = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/;

function decodeSegment(seg: string): unknown {
  try {
    return JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Decodes a JWT's header and claims (never verifies it). Undefined when the value is no JWT. */
export function decodeJwt(value: string, nowMs: number): JwtFacts | undefined {
  if (!JWT.test(value)) return undefined;
  const [h, p] = value.split('.');
  const header = decodeSegment(h!);
  const payload = decodeSegment(p!);
  if (typeof header !== 'object' || header === null || typeof payload !== 'object' || payload === null) return undefined;
  const alg = (header as Record<string, unknown>)['alg'];
  const exp = (payload as Record<string, unknown>)['exp'];
  const iat = (payload as Record<string, unknown>)['iat'];
  const facts: JwtFacts = { expired: false };
  if (typeof alg === 'string') facts.alg = alg;
  if (typeof iat === 'number') facts.iat = iat;
  if (typeof exp === 'number') {
    facts.exp = exp;
    facts.expired = exp * 1000 <= nowMs;
  }
  return facts;
}

function describe(value: string, nowMs: number): { shape: string; jwt?: JwtFacts } {
  const jwt = decodeJwt(value, nowMs);
  if (jwt) {
    const parts = [`JWT${jwt.alg ? ` ${jwt.alg}` : ''}`, `${value.length} chars`];
    if (jwt.exp !== undefined) parts.push(`${jwt.expired ? 'expired' : 'expires'} ${new Date(jwt.exp * 1000).toISOString()}`);
    else parts.push('no exp');
    return { shape: parts.join(', '), jwt };
  }
  if (value.length === 0) return { shape: 'empty' };
  return { shape: `opaque, ${value.length} chars` };
}

function credential(kind: CredentialKind, name: string, value: string, nowMs: number, scheme?: string): Credential {
  const d = describe(value, nowMs);
  const c: Credential = { kind, name, shape: d.shape };
  if (scheme !== undefined) c.scheme = scheme;
  if (d.jwt) c.jwt = d.jwt;
  return c;
}

/** Indexes of the Sec-WebSocket-Protocol entries that are (or carry) tokens. */
export function tokenSubprotocolIndexes(entries: readonly string[]): Set<number> {
  const out = new Set<number>();
  entries.forEach((e, i) => {
    if (e.startsWith(K8S_BEARER) || JWT.test(e)) out.add(i);
    else if (i > 0 && TOKEN_MARKER.test(entries[i - 1]!)) out.add(i);
  });
  return out;
}

function subprotocolToken(entry: string): string {
  if (!entry.startsWith(K8S_BEARER)) return entry;
  try {
    return Buffer.from(entry.slice(K8S_BEARER.length), 'base64url').toString('utf8');
  } catch {
    return entry;
  }
}

export function queryParams(target: string): [string, string][] {
  const q = target.indexOf('?');
  if (q < 0) return [];
  const out: [string, string][] = [];
  for (const [k, v] of new URLSearchParams(target.slice(q + 1))) out.push([k, v]);
  return out;
}

export function cookieNames(cookieHeader: string): string[] {
  return cookieHeader
    .split(';')
    .map((p) => p.split('=')[0]!.trim())
    .filter((n) => n.length > 0);
}

/** Every credential the request carries. */
export function findCredentials(target: string, headers: readonly HeaderLine[], nowMs: number): Credential[] {
  const out: Credential[] = [];
  for (const h of headers) {
    const lower = h.name.toLowerCase();
    if (lower === 'authorization' || lower === 'proxy-authorization') {
      const sp = h.value.indexOf(' ');
      const scheme = sp < 0 ? h.value : h.value.slice(0, sp);
      const secret = sp < 0 ? '' : h.value.slice(sp + 1).trim();
      if (sp < 0) out.push({ kind: 'authorization', name: h.name, shape: `no scheme, ${h.value.length} chars` });
      else out.push(credential('authorization', h.name, scheme.toLowerCase() === 'basic' ? '' : secret, nowMs, scheme));
      if (scheme.toLowerCase() === 'basic') out[out.length - 1]!.shape = `Basic, ${secret.length} chars`;
    } else if (lower === 'cookie') {
      for (const part of h.value.split(';')) {
        const eq = part.indexOf('=');
        const name = (eq < 0 ? part : part.slice(0, eq)).trim();
        if (!name) continue;
        out.push(credential('cookie', name, eq < 0 ? '' : part.slice(eq + 1).trim(), nowMs));
      }
    } else if (lower === 'sec-websocket-protocol') {
      const entries = h.value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const i of tokenSubprotocolIndexes(entries)) {
        out.push(credential('subprotocol', 'Sec-WebSocket-Protocol', subprotocolToken(entries[i]!), nowMs));
      }
    } else if (SECRET_HEADER.test(h.name)) {
      out.push(credential('header', h.name, h.value, nowMs));
    }
  }
  for (const [k, v] of queryParams(target)) if (TOKEN_PARAM.test(k)) out.push(credential('query', k, v, nowMs));
  return out;
}
