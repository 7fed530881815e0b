/** What a run of the proxy amounted to, for the line printed at exit: sessions by outcome, findings by code. */
import type { Finding, Severity } from '../session/finding.js';
import { worstSeverity } from '../session/finding.js';
import type { SessionSink } from './bus.js';

export interface RunSummary {
  sessions: number;
  outcomes: Record<string, number>;
  findings: Record<string, { count: number; severity: Severity }>;
}

export class RunSummarySink implements SessionSink {
  readonly name = 'run summary';
  private readonly summary: RunSummary = { sessions: 0, outcomes: {}, findings: {} };

  handshake(session: { outcome: string }, view: { findings: readonly Finding[] }): void {
    this.summary.sessions++;
    this.summary.outcomes[session.outcome] = (this.summary.outcomes[session.outcome] ?? 0) + 1;
    this.count(view.findings);
  }

  end(_session: unknown, end: { findings: readonly Finding[] }): void {
    this.count(end.findings);
  }

  private count(findings: readonly Finding[]): void {
    for (const f of findings) {
      const e = (this.summary.findings[f.code] ??= { count: 0, severity: f.severity });
      e.count++;
    }
  }

  get result(): RunSummary {
    return this.summary;
  }

  /** The worst severity among the findings of the run. */
  get level(): Severity {
    return worstSeverity(Object.values(this.summary.findings)) ?? 'info';
  }

  /** "12 sessions (10 tunnel, 2 rejected); findings: close-policy ×10, auth-missing ×12" */
  text(): string {
    const s = this.summary;
    const outcomes = Object.entries(s.outcomes)
      .map(([o, n]) => `${n} ${o}`)
      .join(', ');
    const findings = Object.entries(s.findings)
      .sort((a, b) => b[1].count - a[1].count)
      .map(([code, f]) => `${code} ×${f.count}`)
      .join(', ');
    return `${s.sessions} session${s.sessions === 1 ? '' : 's'}${outcomes ? ` (${outcomes})` : ''}; ${findings ? `findings: ${findings}` : 'no findings'}`;
  }
}
