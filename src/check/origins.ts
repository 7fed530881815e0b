/**
 * `wstap check --origins`: one upgrade per Origin, to learn which ones the backend
 * accepts. The preset docker-dev is the list the troubleshooting guide asks a backend
 * to allow in a Docker development setup.
 */
import { inspectClose } from '../inspect/close.js';
import type { Finding } from '../session/finding.js';
import { openWebSocket, type HandshakeRequest } from './ws-client.js';

const DEV_HOSTS = ['localhost', '127.0.0.1', 'frontend', 'backend', '172.17.0.1', '172.18.0.1'];
const DEV_PORTS = [3000, 8000];

export const ORIGIN_PRESETS: Record<string, readonly string[]> = {
  /** localhost, 127.0.0.1, the compose service names and the default bridge gateways, on the frontend's and the backend's port. */
  'docker-dev': DEV_HOSTS.flatMap((h) => DEV_PORTS.map((p) => `http://${h}:${p}`)),
};

/** A comma-separated list of origins and preset names, expanded, normalised, without duplicates. Throws on a bad entry. */
export function parseOriginList(value: string): string[] {
  const out: string[] = [];
  for (const entry of value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const preset = ORIGIN_PRESETS[entry];
    if (preset) {
      out.push(...preset);
      continue;
    }
    if (entry === 'null') {
      out.push('null');
      continue;
    }
    let u: URL;
    try {
      u = new URL(entry);
    } catch {
      throw new Error(`"${entry}" is neither an origin (http://localhost:3000) nor a preset (${Object.keys(ORIGIN_PRESETS).join(', ')})`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`"${entry}": an origin is http:// or https://`);
    out.push(u.origin);
  }
  if (out.length === 0) throw new Error(`expected origins (http://localhost:3000,...) or a preset (${Object.keys(ORIGIN_PRESETS).join(', ')})`);
  return [...new Set(out)];
}

export interface OriginProbe {
  origin: string;
  /** accepted: 101 and not closed for the Origin; rejected: another status, or a 1008 naming the Origin; error: no answer. */
  verdict: 'accepted' | 'rejected' | 'error';
  /** The backend's status (101 when it upgraded). */
  status?: number;
  detail: string;
  findings: Finding[];
  ms: number;
}

const ORIGIN_REASON = /origin|cors/i;

/** Probes one Origin: upgrade, then up to lingerMs for a close that names the Origin. */
export async function probeOrigin(base: Omit<HandshakeRequest, 'origins'>, origin: string, lingerMs: number): Promise<OriginProbe> {
  const outcome = await openWebSocket({ ...base, origins: [origin] });
  if (outcome.kind === 'failed') {
    return { origin, verdict: 'error', detail: `${outcome.failure.code}: ${outcome.failure.message}`, findings: outcome.findings, ms: outcome.ms };
  }
  const res = outcome.answer.response;
  const status = `${res.status} ${res.reason}`.trim();
  if (!outcome.socket) {
    const body = outcome.answer.bodyExcerpt?.trim();
    const verdict = res.status === 101 ? 'error' : 'rejected';
    return {
      origin,
      verdict,
      status: res.status,
      detail: body ? `${status}: "${body.slice(0, 120)}"` : status,
      findings: outcome.findings,
      ms: outcome.ms,
    };
  }
  const ws = outcome.socket;
  await ws.waitForClose(lingerMs);
  const close = ws.closeSummary();
  await ws.close(300);
  if (close && close.code === 1008 && ORIGIN_REASON.test(close.reason)) {
    return {
      origin,
      verdict: 'rejected',
      status: 101,
      detail: `101, then closed 1008 "${close.reason}"`,
      findings: inspectClose(close),
      ms: outcome.ms,
    };
  }
  const after = close ? `, then closed ${close.code}${close.reason ? ` "${close.reason}"` : ''}` : '';
  return { origin, verdict: 'accepted', status: 101, detail: `${status}${after}`, findings: [], ms: outcome.ms };
}

/** Probes every origin, a few at a time; results in the order given. */
export async function probeOrigins(
  base: Omit<HandshakeRequest, 'origins'>,
  origins: readonly string[],
  lingerMs: number,
  concurrency = 6,
): Promise<OriginProbe[]> {
  const results: OriginProbe[] = new Array(origins.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < origins.length) {
      const i = next++;
      results[i] = await probeOrigin(base, origins[i]!, lingerMs);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, origins.length) }, worker));
  return results;
}
