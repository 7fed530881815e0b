/**
 * `wstap check --dotenv`: the variables of the troubleshooting guide's checklist,
 * read from a .env file, and what does not fit together: a browser URL the browser on
 * the host cannot reach, hosts or schemes that disagree, an auth bypass outside
 * development.
 */
import net from 'node:net';
import type { Finding, FindingCodeOf } from '../../session/finding.js';
import { finding } from '../finding.js';

/** The guide's checklist. */
export const WS_URL_VARS = ['NEXT_PUBLIC_WS_URL', 'NEXT_PUBLIC_WEBSOCKET_URL'] as const;
export const API_URL_VARS = ['NEXT_PUBLIC_API_URL'] as const;
export const BYPASS_VARS = ['ALLOW_DEV_AUTH_BYPASS', 'WEBSOCKET_AUTH_BYPASS'] as const;
export const ENVIRONMENT_VAR = 'ENVIRONMENT';
export const CHECKLIST_VARS = [...WS_URL_VARS, ...API_URL_VARS, ...BYPASS_VARS, ENVIRONMENT_VAR] as const;

/**
 * Parses a .env file as dotenv and Docker Compose read it: KEY=VALUE lines, `export `
 * prefixes, # comments, single- or double-quoted values (\n in double quotes).
 */
export function parseEnvFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const rawLine of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    const line = rawLine.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2]!;
    const q = value[0];
    if ((q === '"' || q === "'") && value.indexOf(q, 1) > 0) {
      value = value.slice(1, value.indexOf(q, 1));
      if (q === '"') value = value.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    } else {
      value = value.replace(/\s+#.*$/, '').trim();
    }
    out.set(m[1]!, value);
  }
  return out;
}

const TRUE = /^(1|true|yes|on)$/i;

interface ParsedUrl {
  name: string;
  value: string;
  url?: URL;
}

/** A host a browser on the developer's machine cannot reach: a compose service name, or 0.0.0.0. */
function unreachableHost(host: string): 'service' | 'unspecified' | undefined {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === '0.0.0.0' || h === '::') return 'unspecified';
  if (net.isIP(h) || h === 'localhost' || h.includes('.')) return undefined;
  return 'service';
}

const defaultPort = (u: URL): string =>
  u.port || ({ 'ws:': '80', 'http:': '80', 'wss:': '443', 'https:': '443' } as Record<string, string>)[u.protocol] || '';
const secureScheme = (u: URL): boolean => u.protocol === 'wss:' || u.protocol === 'https:';
/** The URL without its query (which may carry a token). */
const shown = (p: ParsedUrl): string => p.value.replace(/[?#].*$/, '');

export interface EnvDiagnosis {
  /** The checklist variables the file sets, in checklist order (URL queries left out). */
  variables: Record<string, string>;
  findings: Finding<FindingCodeOf<'environment'>>[];
  /** The WebSocket URL the frontend uses (NEXT_PUBLIC_WS_URL, else NEXT_PUBLIC_WEBSOCKET_URL), as written. */
  wsUrl?: string;
}

/** The checklist variables the file sets, and the URLs among them (parsed where they parse). */
function readVariables(vars: ReadonlyMap<string, string>): { variables: Record<string, string>; urls: ParsedUrl[] } {
  const variables: Record<string, string> = {};
  const urls: ParsedUrl[] = [];
  for (const name of CHECKLIST_VARS) {
    const value = vars.get(name);
    if (value === undefined) continue;
    const isUrl = (WS_URL_VARS as readonly string[]).includes(name) || (API_URL_VARS as readonly string[]).includes(name);
    if (!isUrl) {
      variables[name] = value;
      continue;
    }
    const p: ParsedUrl = { name, value };
    try {
      p.url = new URL(value);
    } catch {
      // reported below
    }
    variables[name] = shown(p);
    if (value !== '') urls.push(p);
  }

  return { variables, urls };
}

/** The URLs a browser on the host can use; each one it cannot is a finding. */
function usableUrls(urls: readonly ParsedUrl[], source: string, findings: Finding<FindingCodeOf<'environment'>>[]): ParsedUrl[] {
  const usable: ParsedUrl[] = [];
  for (const p of urls) {
    const ws = (WS_URL_VARS as readonly string[]).includes(p.name);
    const schemes = ws ? ['ws:', 'wss:', 'http:', 'https:'] : ['http:', 'https:'];
    if (!p.url || !schemes.includes(p.url.protocol)) {
      findings.push(
        finding(
          'env-unreachable-url',
          `${p.name}=${p.value} in ${source} is not ${ws ? 'a ws:// or wss://' : 'an http:// or https://'} URL.`,
          ws
            ? `Write the full WebSocket URL, e.g. ${p.name}=ws://localhost:8001/ws (wstap) or ws://localhost:8000/ws (the backend).`
            : `Write the full URL, e.g. ${p.name}=http://localhost:8000.`,
        ),
      );
      continue;
    }
    const bad = unreachableHost(p.url.hostname);
    if (bad) {
      const fixed = `${p.url.protocol}//localhost${p.url.port ? `:${p.url.port}` : ''}${shown(p).replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '')}`;
      findings.push(
        finding(
          'env-unreachable-url',
          bad === 'service'
            ? `${p.name} names "${p.url.hostname}", a compose service name: NEXT_PUBLIC_ variables are read by the browser, on your machine, where service names do not resolve.`
            : `${p.name} names ${p.url.hostname}, the address a server listens on: browsers do not connect to it.`,
          `Use the host and the port published on your machine: ${p.name}=${fixed} ` +
            `(with wstap in between: its published port, e.g. ws://localhost:8001/ws). Service names are for container-to-container traffic (a server-side URL, WSTAP_TARGET).`,
        ),
      );
      continue;
    }
    if (ws && (p.url.protocol === 'http:' || p.url.protocol === 'https:')) {
      findings.push(
        finding(
          'env-inconsistent',
          `${p.name}=${shown(p)} uses ${p.url.protocol}// for a WebSocket URL.`,
          `Recent browsers convert it, older ones throw a SyntaxError: write ${p.url.protocol === 'https:' ? 'wss' : 'ws'}://${p.url.host}${p.url.pathname}.`,
        ),
      );
    }
    usable.push(p);
  }

  return usable;
}

const hasPath = (u: URL): boolean => u.pathname !== '/' && u.pathname !== '';

/**
 * A WebSocket URL without a path sends the upgrade to /, where most backends serve none. Unless
 * another WebSocket variable names the same host and port with a path: then it is a base the
 * frontend adds the path to (the guide's NEXT_PUBLIC_WS_URL=ws://localhost:8000 beside
 * NEXT_PUBLIC_WEBSOCKET_URL=ws://localhost:8000/ws).
 */
function pathlessWsUrls(wsUrls: readonly ParsedUrl[], findings: Finding<FindingCodeOf<'environment'>>[]): void {
  for (const p of wsUrls as Required<ParsedUrl>[]) {
    if (hasPath(p.url)) continue;
    const base = (wsUrls as Required<ParsedUrl>[]).some((o) => o !== p && o.url.host === p.url.host && hasPath(o.url));
    if (base) continue;
    findings.push(
      finding(
        'env-ws-path-missing',
        `${p.name}=${shown(p)} has no path: a frontend that connects to it as it is sends the upgrade to /.`,
        'Most backends serve WebSockets on a path (FastAPI/Starlette answer an empty 403 to an upgrade on a path with no WebSocket route): ' +
          `add it, e.g. ${p.name}=${p.url.protocol}//${p.url.host}/ws, unless the frontend adds the path itself. wstap check on the URL proves which path upgrades.`,
      ),
    );
  }
}

/** Two variables for the same WebSocket endpoint that disagree. */
function wsUrlsDisagree(wsUrls: readonly ParsedUrl[], findings: Finding<FindingCodeOf<'environment'>>[]): void {
  if (wsUrls.length === 2) {
    const [a, b] = wsUrls as [Required<ParsedUrl>, Required<ParsedUrl>];
    const diff: string[] = [];
    if (secureScheme(a.url) !== secureScheme(b.url)) diff.push('scheme');
    if (a.url.hostname !== b.url.hostname) diff.push('host');
    if (defaultPort(a.url) !== defaultPort(b.url)) diff.push('port');
    if (diff.length) {
      findings.push(
        finding(
          'env-inconsistent',
          `${a.name}=${shown(a)} and ${b.name}=${shown(b)} differ in ${diff.join(' and ')}: parts of the frontend connect to different places.`,
          `Give both the same scheme, host and port (the guide: ws://localhost:8000; through wstap: ws://localhost:8001).`,
        ),
      );
    }
  }
}

/** The API URL and the WebSocket URLs: the same host, schemes that pair. */
function apiAndWsDisagree(usable: readonly ParsedUrl[], wsUrls: readonly ParsedUrl[], findings: Finding<FindingCodeOf<'environment'>>[]): void {
  const api = usable.find((p) => (API_URL_VARS as readonly string[]).includes(p.name)) as Required<ParsedUrl> | undefined;
  if (api) {
    for (const w of wsUrls as Required<ParsedUrl>[]) {
      if (w.url.hostname !== api.url.hostname) {
        findings.push(
          finding(
            'env-inconsistent',
            `${w.name} uses host ${w.url.hostname}, ${api.name} uses ${api.url.hostname}.`,
            `Use one host name for both (${api.url.hostname === 'localhost' || w.url.hostname === 'localhost' ? 'localhost' : api.url.hostname}): ` +
              'to a browser localhost and 127.0.0.1 are different sites, so cookies set by the API are not sent with the WebSocket, and the Origin the backend sees changes.',
          ),
        );
      }
      if (secureScheme(api.url) && !secureScheme(w.url)) {
        findings.push(
          finding(
            'env-inconsistent',
            `${api.name} is https but ${w.name} is ws://: a page served over https may not open a ws:// connection (mixed content).`,
            `Use wss:// for ${w.name} (terminate TLS in front of the backend or wstap), or serve the frontend over http in development.`,
          ),
        );
      } else if (!secureScheme(api.url) && secureScheme(w.url)) {
        findings.push(
          finding(
            'env-inconsistent',
            `${api.name} is http but ${w.name} is wss://: the backend serves TLS on one and not the other?`,
            `In development both are usually plain: ws:// with http://. Check that the WebSocket port really serves TLS.`,
          ),
        );
      }
    }
  }
}

/** The auth bypass: development only, and all of it. */
function bypassProblems(vars: ReadonlyMap<string, string>, findings: Finding<FindingCodeOf<'environment'>>[]): void {
  const environment = vars.get(ENVIRONMENT_VAR);
  const on = BYPASS_VARS.filter((n) => TRUE.test(vars.get(n) ?? ''));
  if (on.length > 0 && environment !== 'development') {
    findings.push(
      finding(
        'env-auth-bypass',
        `${on.map((n) => `${n}=${vars.get(n)}`).join(' and ')} with ${environment === undefined ? `${ENVIRONMENT_VAR} unset` : `${ENVIRONMENT_VAR}=${environment}`}.`,
        "The auth bypass is for local development only. Backends like the guide's ignore it unless ENVIRONMENT=development " +
          '(so WebSockets still close with 1008 "Authentication required"), and where it is honoured it switches authentication off: ' +
          'remove it from any file used outside development, or set ENVIRONMENT=development in the development file.',
      ),
    );
  } else if (on.length > 0 && on.length < BYPASS_VARS.length) {
    const missing = BYPASS_VARS.filter((n) => !on.includes(n));
    findings.push(
      finding(
        'env-auth-bypass',
        `${on.join(' and ')} is set, ${missing.join(' and ')} is not: the guide's bypass needs both (and ENVIRONMENT=development).`,
        `Set ${missing.map((n) => `${n}=true`).join(' and ')} as well, then restart the backend (docker compose restart backend).`,
      ),
    );
  }
}

export function diagnoseEnv(vars: ReadonlyMap<string, string>, source = 'the env file'): EnvDiagnosis {
  const findings: Finding<FindingCodeOf<'environment'>>[] = [];
  const { variables, urls } = readVariables(vars);
  const usable = usableUrls(urls, source, findings);
  const wsUrls = usable.filter((p) => (WS_URL_VARS as readonly string[]).includes(p.name));
  wsUrlsDisagree(wsUrls, findings);
  pathlessWsUrls(wsUrls, findings);
  apiAndWsDisagree(usable, wsUrls, findings);
  bypassProblems(vars, findings);
  const out: EnvDiagnosis = { variables, findings };
  const ws = WS_URL_VARS.map((n) => vars.get(n)).find((v) => v !== undefined && v !== '');
  if (ws !== undefined) out.wsUrl = ws;
  return out;
}
