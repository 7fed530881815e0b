/**
 * `wstap report`: one row per recorded session: client, path, status, findings,
 * messages each way, the close (who, code, reason) and latency.
 */
import type { Recording } from './format.js';

export interface SessionReport {
  session: string;
  client: string;
  path: string;
  status: number | null;
  outcome: string;
  findings: string[];
  messages: { client: number; server: number };
  close: { by: string; code: number; reason: string; clean: boolean } | null;
  latency: { p50: number; p99: number } | null;
  durationMs: number | null;
  /** The application protocol (Socket.IO, graphql-ws, STOMP, MQTT, JSON-RPC), when one was detected. */
  protocol: string | null;
}

/** One operation of an application protocol over every recorded session. */
export interface OperationReport {
  protocol: string;
  /** "emit chat", "subscription OnMessage", "SEND /queue/a", "PUBLISH sensors/t1 qos1", "eth_call". */
  operation: string;
  sessions: number;
  count: number;
  errors: number;
  unanswered: number;
  /** Request → first answer, from every answer recorded. */
  latency: { count: number; p50: number; p95: number; p99: number; max: number } | null;
}

export function reportRecording(rec: Recording): SessionReport[] {
  return rec.sessions.map((s) => {
    const data = s.messages.filter((m) => m.kind === 'text' || m.kind === 'binary');
    const c = s.close?.close;
    const findings = [...s.open.findings, ...(s.close?.findings ?? [])].map((f) => f.code);
    const req = s.close?.latency?.requests;
    return {
      session: s.id,
      client: s.open.client,
      path: s.open.request.path,
      status: s.open.response?.status ?? null,
      outcome: s.open.outcome,
      findings: [...new Set(findings)],
      messages: { client: data.filter((m) => m.from === 'client').length, server: data.filter((m) => m.from === 'server').length },
      close: c ? { by: c.initiator, code: c.code, reason: c.reason, clean: c.clean } : null,
      latency: req ? { p50: req.p50, p99: req.p99 } : null,
      durationMs: s.close?.durationMs ?? null,
      protocol: s.close?.app?.protocol ?? s.open.app?.protocol ?? null,
    };
  });
}

const percentile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;

/** The operations of every session grouped by protocol and name: counts from the close summaries, latency from each recorded answer. */
export function operationsOf(rec: Recording): OperationReport[] {
  const groups = new Map<string, OperationReport & { samples: number[] }>();
  const group = (protocol: string, operation: string) => {
    const key = `${protocol}\n${operation}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { protocol, operation, sessions: 0, count: 0, errors: 0, unanswered: 0, latency: null, samples: [] }));
    return g;
  };
  for (const s of rec.sessions) {
    const app = s.close?.app;
    if (app) {
      for (const o of app.operations) {
        const g = group(app.protocol, o.operation);
        g.sessions++;
        g.count += o.count;
        g.errors += o.errors;
        g.unanswered += o.unanswered;
      }
    }
    for (const m of s.messages) {
      if (!m.app) continue;
      for (const p of m.app.packets) if (p.answers) group(m.app.protocol, p.answers.operation).samples.push(p.answers.ms);
    }
  }
  return [...groups.values()]
    .map(({ samples, ...g }) => {
      const sorted = samples.sort((a, b) => a - b);
      const latency = sorted.length
        ? { count: sorted.length, p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), p99: percentile(sorted, 0.99), max: sorted.at(-1)! }
        : null;
      return { ...g, latency };
    })
    .sort((a, b) => a.protocol.localeCompare(b.protocol) || b.count - a.count);
}

export function formatOperations(rows: readonly OperationReport[]): string {
  const header = ['protocol', 'operation', 'count', 'errors', 'unanswered', 'p50/p95/p99 ms', 'sessions'];
  const cells = rows.map((r) => [
    r.protocol,
    r.operation.length > 48 ? `${r.operation.slice(0, 47)}…` : r.operation,
    String(r.count),
    String(r.errors),
    String(r.unanswered),
    r.latency ? `${r.latency.p50}/${r.latency.p95}/${r.latency.p99}` : '-',
    String(r.sessions),
  ]);
  return table(header, cells);
}

function table(header: string[], cells: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string =>
    c
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

export function formatReport(rows: readonly SessionReport[]): string {
  const header = ['session', 'client', 'path', 'status', 'protocol', 'msgs →/←', 'close', 'latency p50/p99', 'findings'];
  const cells = rows.map((r) => [
    r.session,
    r.client,
    r.path.length > 40 ? `${r.path.slice(0, 39)}…` : r.path,
    r.status === null ? r.outcome : String(r.status),
    r.protocol ?? '-',
    `${r.messages.client}/${r.messages.server}`,
    r.close
      ? `${r.close.by} ${r.close.code}${r.close.reason ? ` "${r.close.reason.slice(0, 30)}"` : ''}${r.close.clean ? '' : ' (unclean)'}`
      : r.outcome === 'tunnel'
        ? 'open'
        : '-',
    r.latency ? `${r.latency.p50}/${r.latency.p99} ms` : '-',
    r.findings.join(', ') || '-',
  ]);
  return table(header, cells);
}
