/**
 * --allow-origin patterns: an exact origin ("http://localhost:3000"), a port
 * wildcard ("http://localhost:*"), a subdomain label wildcard
 * ("https://*.example.com"), both, or "*" for any origin.
 */

export interface OriginPattern {
  source: string;
  test(origin: string): boolean;
}

const DEFAULT_PORT: Record<string, string> = { 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443' };

interface OriginParts {
  scheme: string;
  host: string;
  port: string;
}

function splitOrigin(origin: string): OriginParts | undefined {
  const m = /^([a-z][a-z0-9+.-]*:)\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+|\*))?\/?$/i.exec(origin.trim());
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  return { scheme, host: m[2]!.toLowerCase(), port: m[3] ?? DEFAULT_PORT[scheme] ?? '' };
}

export class OriginPatternError extends Error {
  override readonly name = 'OriginPatternError';
}

export function parseOriginPattern(source: string): OriginPattern {
  const s = source.trim();
  if (s === '*') return { source: s, test: () => true };
  if (s === 'null') return { source: s, test: (o) => o === 'null' };
  const p = splitOrigin(s);
  if (!p) {
    throw new OriginPatternError(
      `invalid origin pattern "${source}": expected scheme://host[:port], e.g. http://localhost:3000, http://localhost:*, https://*.example.com`,
    );
  }
  const labels = p.host.split('.');
  return {
    source: s,
    test(origin: string): boolean {
      const o = splitOrigin(origin);
      if (!o || o.scheme !== p.scheme) return false;
      if (p.port !== '*' && p.port !== o.port) return false;
      const ol = o.host.split('.');
      if (ol.length !== labels.length) return false;
      return labels.every((l, i) => l === '*' || l === ol[i]);
    },
  };
}

export function originAllowed(patterns: readonly OriginPattern[], origin: string): boolean {
  return patterns.some((p) => p.test(origin));
}
