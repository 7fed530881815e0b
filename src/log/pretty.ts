/**
 * The terminal layout: one block per handshake, so a person sees at a glance what
 * is wrong (the findings, by severity) and what to change (the hint under each).
 */
import type { Finding } from '../session/finding.js';
import { formatBytes, messageMessage, sessionEndMessage, type HandshakeLogEntry, type MessageLogEntry, type SessionEndLogEntry } from './entries.js';
import type { Percentiles } from '../session/summary.js';

export interface Palette {
  red(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  green(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

const wrap = (open: number, close: number) => (s: string) => `\u001b[${open}m${s}\u001b[${close}m`;
export const COLORS: Palette = {
  red: wrap(31, 39),
  yellow: wrap(33, 39),
  cyan: wrap(36, 39),
  green: wrap(32, 39),
  dim: wrap(2, 22),
  bold: wrap(1, 22),
};
const id = (s: string): string => s;
export const NO_COLORS: Palette = { red: id, yellow: id, cyan: id, green: id, dim: id, bold: id };

const MARK = { error: '✖', warn: '▲', info: 'ℹ' } as const;

function severityColor(p: Palette, f: Finding): (s: string) => string {
  return f.severity === 'error' ? p.red : f.severity === 'warn' ? p.yellow : p.cyan;
}

/** How requests and answers were paired, for the latency line. */
export function pairing(count: number, correlation: string | undefined, inOrder: number | undefined): string {
  if (!correlation) return ' each client message → next server message';
  if (!inOrder) return ` paired by ${correlation}`;
  if (inOrder >= count) return ` paired in order (no answer carried a matching ${correlation})`;
  return ` paired by ${correlation} (${count - inOrder} of ${count}; ${inOrder} without a matching ${correlation}, in order)`;
}

function row(p: Palette, label: string, value: string): string {
  return `\n    ${p.dim(label.padEnd(12))} ${value}`;
}

/**
 * Which hints a terminal has shown lately: a reconnect loop repeats the same findings, and a
 * 400-character fix ten times a minute buries everything else. A hint is shown once per code
 * per window; after that the line refers to it.
 */
export class HintMemory {
  private readonly shownAt = new Map<string, number>();
  constructor(private readonly windowMs = 5 * 60_000) {}

  /** undefined: show the hint now; else the time it was shown. */
  seen(code: string, hint: string, now = Date.now()): number | undefined {
    const key = `${code}\0${hint}`;
    const at = this.shownAt.get(key);
    if (at !== undefined && now - at < this.windowMs) return at;
    if (this.shownAt.size > 1000) this.shownAt.clear();
    this.shownAt.set(key, now);
    return undefined;
  }
}

const clock = (ms: number): string => new Date(ms).toISOString().slice(11, 19);

/** A text that came from the wire or a library (a TLS error, a body) on one line of the layout. */
export const flat = (text: string): string => text.replace(/\s*[\r\n]+\s*/g, ' ');

const SEVERITY_RANK: Record<Finding['severity'], number> = { error: 0, warn: 1, info: 2 };

export function formatFindings(findings: readonly Finding[], p: Palette, indent = '    ', hints?: HintMemory): string {
  let out = '';
  // The real error first: errors, then warnings, then notes (each group in the order raised).
  const ordered = [...findings].sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]);
  for (const f of ordered) {
    const c = severityColor(p, f);
    out += `\n${indent}${c(`${MARK[f.severity]} ${f.code}`)}  ${flat(f.message)}`;
    const shown = hints?.seen(f.code, f.hint);
    out += `\n${indent}  ${p.green('fix:')} ${shown === undefined ? flat(f.hint) : p.dim(`as above (${clock(shown)} UTC)`)}`;
  }
  return out;
}

export function formatHandshake(e: HandshakeLogEntry, p: Palette, hints?: HintMemory): string {
  const status =
    e.outcome === 'tunnel'
      ? p.green(`${e.statusLine}`)
      : e.outcome === 'rejected'
        ? `${p.red(`${e.statusLine}`)} from the backend, not upgraded`
        : e.outcome === 'failed'
          ? p.red(`502 (wstap): backend unreachable, ${e.error?.code ?? ''}`)
          : e.outcome === 'invalid'
            ? p.red('400 (wstap): not a valid WebSocket upgrade')
            : e.outcome === 'aborted'
              ? p.yellow('client left before the backend answered')
              : e.outcome;
  const time = e.handshakeMs !== undefined ? p.dim(` in ${e.handshakeMs} ms`) : '';
  let out = `${p.bold(e.session)} ${e.method} ${e.path} ${p.dim('from')} ${e.client} → ${status}${time}`;
  if (e.origins.length === 0) out += row(p, 'Origin', p.dim('(none)'));
  for (const o of e.origins) out += row(p, 'Origin', o);
  if (e.originNormalized) out += row(p, '', p.dim(`forwarded only the first Origin (--normalize-origin)`));
  const creds = e.credentials.map((c) => `${c.kind} ${c.name}${c.scheme ? ` ${c.scheme}` : ''}: ${c.shape}`);
  out += row(p, 'Credentials', creds.length ? creds.join(p.dim(' · ')) : p.dim('(none)'));
  if (e.subprotocols.offered.length || e.subprotocols.chosen) {
    out += row(p, 'Subprotocol', `offered ${e.subprotocols.offered.join(', ') || '-'} · chosen ${e.subprotocols.chosen ?? '-'}`);
  }
  if (e.extensions.offered.length || e.extensions.chosen) {
    out += row(p, 'Extensions', `offered ${e.extensions.offered.join(', ') || '-'} · chosen ${e.extensions.chosen ?? '-'}`);
  }
  if (e.body) out += row(p, 'Body', JSON.stringify(e.body.trim().slice(0, 200)));
  if (e.error && e.outcome !== 'failed') out += row(p, 'Error', flat(`${e.error.code}: ${e.error.message}`));
  if (e.view) out += row(p, 'View', p.dim(e.view));
  out += formatFindings(e.findings, p, '    ', hints);
  return out;
}

function pct(p: Percentiles): string {
  return `p50 ${p.p50} ms · p95 ${p.p95} · p99 ${p.p99} · max ${p.max} (${p.count})`;
}

export function formatSessionEnd(e: SessionEndLogEntry, p: Palette, hints?: HintMemory): string {
  let out = sessionEndMessage(e);
  if (e.messages) {
    const c = e.messages.client;
    const s = e.messages.server;
    const side = (label: string, d: typeof c): string =>
      `${label} ${d.data} data${d.control ? ` + ${d.control} control` : ''} (${formatBytes(d.payloadBytes)}${d.wireBytes !== d.payloadBytes ? `, ${formatBytes(d.wireBytes)} on the wire` : ''})${d.blind ? p.red(' decoding stopped') : ''}`;
    out += row(p, 'Messages', `${side('client →', c)} · ${side('server ←', s)}`);
  }
  const l = e.latency;
  if (l?.requests) out += row(p, 'Latency', `${pct(l.requests)}${p.dim(pairing(l.requests.count, l.correlation, l.inOrder))}`);
  else if (l?.withoutCorrelation) {
    out += row(
      p,
      'Latency',
      p.yellow(`--correlate ${l.correlation} matched none of the ${l.withoutCorrelation} client messages: check the path (id, $.meta.requestId)`),
    );
  }
  if (l?.pings) out += row(p, 'Ping', pct(l.pings));
  if (l?.proxyAddedMs) out += row(p, 'wstap added', `p50 ${l.proxyAddedMs.p50} ms · p99 ${l.proxyAddedMs.p99} · max ${l.proxyAddedMs.max}`);
  if (e.view) out += row(p, 'View', p.dim(e.view));
  out += formatFindings(e.findings, p, '    ', hints);
  return out;
}

export function formatMessage(e: MessageLogEntry, p: Palette): string {
  const text = messageMessage(e);
  return e.from === 'client' ? p.cyan(text) : text;
}
