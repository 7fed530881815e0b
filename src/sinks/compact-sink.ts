/**
 * --log-format compact: one line per session, when it is over (a tunnel when it closed, any
 * other outcome when the backend answered): the request, the answer, the close, the bytes and the
 * finding codes. A hint is printed once per code per few minutes, on a line of its own.
 */
import type { Logger } from 'pino';
import { alteredText, formatBytes, formatDuration, type ViewLink } from '../log/entries.js';
import { HintMemory } from '../log/pretty.js';
import { worstSeverity, type Finding, type Severity } from '../session/finding.js';
import type { HandshakeView } from '../views/views.js';
import type { SessionSink } from './bus.js';

const MARK = { error: '✖', warn: '▲', info: 'ℹ' } as const;

function answerText(v: HandshakeView): string {
  switch (v.outcome) {
    case 'tunnel':
      return '101';
    case 'rejected':
      return `${v.status ?? '?'} from the backend`;
    case 'failed':
      return `502 (${v.error?.code ?? 'upstream'})`;
    case 'invalid':
      return '400 (not a WebSocket upgrade)';
    case 'aborted':
      return 'client left';
  }
}

const codes = (findings: readonly Finding[]): string =>
  findings.length ? ` · ${findings.map((f) => `${MARK[f.severity]} ${f.code}`).join(' ')}` : '';

/** Where the lines go: a logger (the CLI), or a function (the vitest fixture writes problems to standard error). */
export type CompactOutput = Logger | ((level: Severity, text: string) => void);

/** `view`: each session's page in the live view, at the end of its line. */
export function createCompactSink(out: CompactOutput, view?: ViewLink): SessionSink {
  const hints = new HintMemory();
  const enabled = (level: Severity): boolean => typeof out === 'function' || out.isLevelEnabled(level);
  /** The start of each open tunnel's line, until it closes. */
  const open = new Map<string, { head: string; findings: readonly Finding[] }>();
  const write = (id: string, head: string, findings: readonly Finding[]): void => {
    const level = worstSeverity(findings) ?? 'info';
    if (!enabled(level)) return;
    const link = view?.(id);
    let text = `${head}${codes(findings)}${link ? ` · ${link}` : ''}`;
    for (const f of findings) if (hints.seen(f.code, f.hint) === undefined) text += `\n    fix for ${f.code}: ${f.hint}`;
    if (typeof out === 'function') out(level, text);
    else out[level]({ event: 'session-line' }, text);
  };
  return {
    name: 'compact log',
    pattern(p) {
      const f = p.finding;
      if (!enabled(f.severity)) return;
      const text = `${MARK[f.severity]} ${f.code}: ${f.message}${hints.seen(f.code, f.hint) === undefined ? `\n    fix for ${f.code}: ${f.hint}` : ''}`;
      if (typeof out === 'function') out(f.severity, text);
      else out[f.severity]({ event: 'pattern' }, text);
    },
    wantsFrames: enabled('warn'),
    handshake(session, v) {
      const head = `${v.session} ${v.method} ${v.path} from ${v.client} → ${answerText(v)}`;
      if (session.outcome === 'tunnel') open.set(session.id, { head, findings: v.findings });
      else write(session.id, head, v.findings);
    },
    end(session, _end, v) {
      const start = open.get(session.id);
      open.delete(session.id);
      const c = v.close;
      const closed = !c
        ? `ended (${v.endedBy} ${v.how})`
        : c.initiator === 'none'
          ? 'ended without a close frame (1006)'
          : `closed by ${c.initiator} ${c.code}${c.reason ? ` "${c.reason}"` : ''}${c.clean ? '' : ', unanswered'}`;
      const line = `${start?.head ?? session.id} · ${closed} after ${formatDuration(v.durationMs)} · ↑ ${formatBytes(v.bytes.clientToServer)} ↓ ${formatBytes(v.bytes.serverToClient)}${v.altered ? ` · ${alteredText(v.altered)}` : ''}`;
      write(session.id, line, [...(start?.findings ?? []), ...v.findings]);
    },
  };
}
