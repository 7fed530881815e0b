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
    };
  });
}

export function formatReport(rows: readonly SessionReport[]): string {
  const header = ['session', 'client', 'path', 'status', 'msgs →/←', 'close', 'latency p50/p99', 'findings'];
  const cells = rows.map((r) => [
    r.session,
    r.client,
    r.path.length > 40 ? `${r.path.slice(0, 39)}…` : r.path,
    r.status === null ? r.outcome : String(r.status),
    `${r.messages.client}/${r.messages.server}`,
    r.close
      ? `${r.close.by} ${r.close.code}${r.close.reason ? ` "${r.close.reason.slice(0, 30)}"` : ''}${r.close.clean ? '' : ' (unclean)'}`
      : r.outcome === 'tunnel'
        ? 'open'
        : '-',
    r.latency ? `${r.latency.p50}/${r.latency.p99} ms` : '-',
    r.findings.join(', ') || '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string =>
    c
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}
