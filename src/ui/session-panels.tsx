/** The parts of a session's page around its timeline: the annotated handshake, the findings, the close, the numbers, the hand-offs. */
import type { MessageStore } from './store.js';
import { FINDING_LINES, type Finding, type HeadLine } from '../session/finding.js';
import type { EndView, HandshakeView } from '../views/views.js';
import type { SessionDetail } from './api.js';
import { replayCommand, websocatCommand, wscatCommand } from './commands.js';
import { bytes, clock, count, ms } from './format.js';
import { Badge, CopyButton } from './parts.js';

/** Each handshake line a finding is about, with the codes. */
function marksOf(h: HandshakeView, findings: readonly Finding[]): Map<HeadLine, string[]> {
  const marks = new Map<HeadLine, string[]>();
  const mark = (line: HeadLine, code: string): void => {
    const codes = marks.get(line) ?? [];
    if (!codes.includes(code)) codes.push(code);
    marks.set(line, codes);
  };
  for (const f of findings) {
    for (const line of FINDING_LINES[f.code] ?? []) mark(line, f.code);
    if (f.code !== 'auth-expired') continue;
    for (const c of h.credentials.filter((x) => x.expired)) {
      const line: HeadLine =
        c.kind === 'query'
          ? 'request-line'
          : c.kind === 'authorization'
            ? 'request:authorization'
            : c.kind === 'cookie'
              ? 'request:cookie'
              : c.kind === 'subprotocol'
                ? 'request:sec-websocket-protocol'
                : `request:${c.name.toLowerCase()}`;
      mark(line, f.code);
    }
  }
  return marks;
}

function Line({ text, codes, note }: { text: string; codes?: string[] | undefined; note?: string }) {
  return (
    <div class={`h-line${codes ? ' marked' : ''}`} title={codes ? `findings: ${codes.join(', ')}` : undefined} data-marked={codes?.join(' ')}>
      <span class="h-text">{text}</span>
      {note && <span class="h-note">{note}</span>}
      {codes?.map((c) => (
        <span key={c} class="h-code">
          ← {c}
        </span>
      ))}
    </div>
  );
}

export function HandshakePanel({ detail, findings }: { detail: SessionDetail; findings: readonly Finding[] }) {
  const h = detail.handshake;
  const marks = marksOf(h, findings);
  const times = new Map<string, number>();
  for (const x of h.requestHeaders) times.set(x.name.toLowerCase(), (times.get(x.name.toLowerCase()) ?? 0) + 1);
  const codes = new Set(findings.map((f) => f.code));
  const upstream = [...codes].filter((c) => c.startsWith('upstream-'));
  return (
    <section class="panel handshake" data-testid="handshake">
      <h2>
        Handshake <span class="muted">from {h.client}</span>
      </h2>
      <div class="head">
        <Line text={`${h.method} ${h.path} HTTP/${h.httpVersion}`} codes={marks.get('request-line')} />
        {h.requestHeaders.map((x, i) => {
          const n = times.get(x.name.toLowerCase()) ?? 1;
          return (
            <Line
              key={i}
              text={`${x.name}: ${x.value}`}
              codes={marks.get(`request:${x.name.toLowerCase()}`)}
              note={n > 1 ? `duplicate (${n} lines)` : undefined}
            />
          );
        })}
        {codes.has('origin-missing') && <Line text="Origin: (absent)" codes={['origin-missing']} />}
        {codes.has('auth-missing') && (
          <Line text="(no credential: no Authorization, cookie, token parameter or token subprotocol)" codes={['auth-missing']} />
        )}
      </div>
      <h3>Backend's answer {h.handshakeMs !== undefined && <span class="muted">after {ms(h.handshakeMs)}</span>}</h3>
      <div class="head">
        {h.status !== undefined && <Line text={`HTTP/1.1 ${h.status} ${h.reason ?? ''}`} codes={marks.get('status-line')} />}
        {h.responseHeaders?.map((x, i) => (
          <Line key={i} text={`${x.name}: ${x.value}`} codes={marks.get(`response:${x.name.toLowerCase()}`)} />
        ))}
        {h.body && (
          <pre class="body" title="the start of the body">
            {h.body}
          </pre>
        )}
        {h.error && <Line text={`no answer: ${h.error.code}: ${h.error.message}`} codes={upstream.length ? upstream : undefined} />}
        {h.status === undefined && !h.error && <p class="muted">No answer yet.</p>}
      </div>
      {(h.subprotocols.offered.length > 0 || h.extensions.offered.length > 0) && (
        <p class="muted small">
          {h.subprotocols.offered.length > 0 &&
            `subprotocols offered ${h.subprotocols.offered.join(', ')}, chosen ${h.subprotocols.chosen ?? 'none'}. `}
          {h.extensions.offered.length > 0 && `extensions offered ${h.extensions.offered.join(', ')}, chosen ${h.extensions.chosen ?? 'none'}.`}
        </p>
      )}
    </section>
  );
}

export function FindingsList({ findings }: { findings: readonly Finding[] }) {
  return (
    <section class="panel" data-testid="findings">
      <h2>Findings</h2>
      {!findings.length && <p class="muted">None.</p>}
      {findings.map((f, i) => (
        <div key={i} class="finding" data-code={f.code}>
          <Badge f={f} />
          <p>{f.message}</p>
          <p class="hint">{f.hint}</p>
        </div>
      ))}
    </section>
  );
}

const WHO: Record<string, string> = {
  client: 'the client',
  server: 'the server',
  none: 'nobody (no close frame)',
  wstap: 'wstap itself (its shutdown, a fault rule or the API)',
};

export function ClosePanel({ end, open }: { end: EndView | undefined; open: boolean }) {
  return (
    <section class="panel" data-testid="close">
      <h2>Close</h2>
      {!end && <p class="muted">{open ? 'Open.' : 'Not tunnelled.'}</p>}
      {end?.close && (
        <>
          <p class="close-line">
            <strong class={end.close.code === 1000 || end.close.code === 1001 ? 'ok-text' : 'warn-text'}>{end.close.code}</strong> {end.close.meaning}
          </p>
          <dl>
            <dt>sent first by</dt>
            <dd>{WHO[end.close.initiator] ?? end.close.initiator}</dd>
            {end.close.reason && (
              <>
                <dt>reason</dt>
                <dd>"{end.close.reason}"</dd>
              </>
            )}
            <dt>clean</dt>
            <dd>
              {end.close.clean
                ? `yes: both sides sent a close frame${end.close.handshakeMs !== undefined ? `, ${ms(end.close.handshakeMs)} apart` : ''}`
                : 'no: the connection ended before both sides sent a close frame'}
            </dd>
            <dt>connection</dt>
            <dd>
              ended by {end.endedBy} ({end.how}) after {ms(end.durationMs)}
            </dd>
          </dl>
        </>
      )}
      {end && !end.close && (
        <p>
          Ended by {end.endedBy} ({end.how}) after {ms(end.durationMs)}
          {end.error ? `: ${end.error}` : ''}.
        </p>
      )}
    </section>
  );
}

export function StatsPanel({ detail }: { detail: SessionDetail }) {
  const s = detail.summary;
  const lat = detail.end?.latency ?? s.latency;
  return (
    <section class="panel" data-testid="stats">
      <h2>Traffic</h2>
      <dl>
        <dt>↑ client → server</dt>
        <dd>
          {count(s.messages.client.messages)} messages, {bytes(s.messages.client.bytes)} on the wire
        </dd>
        <dt>↓ server → client</dt>
        <dd>
          {count(s.messages.server.messages)} messages, {bytes(s.messages.server.bytes)} on the wire
        </dd>
        {lat?.requests && (
          <>
            <dt>request → answer</dt>
            <dd data-testid="latency-requests">
              p50 {ms(lat.requests.p50)}, p95 {ms(lat.requests.p95)}, p99 {ms(lat.requests.p99)}, max {ms(lat.requests.max)} (
              {count(lat.requests.count)} pairs
              {lat.correlation ? `, by ${lat.correlation}` : ', in order'})
            </dd>
          </>
        )}
        {lat?.pings && (
          <>
            <dt>ping → pong</dt>
            <dd>
              p50 {ms(lat.pings.p50)}, p95 {ms(lat.pings.p95)}, max {ms(lat.pings.max)} ({count(lat.pings.count)})
            </dd>
          </>
        )}
        <dt>opened</dt>
        <dd>{new Date(s.openedAt).toLocaleString()}</dd>
        {s.closedAt && (
          <>
            <dt>closed</dt>
            <dd>{clock(s.closedAt)}</dd>
          </>
        )}
      </dl>
    </section>
  );
}

export function Handoffs({ detail, target }: { detail: SessionDetail; target: string | undefined }) {
  const h = detail.handshake;
  const origin = location.origin;
  const base = `/__wstap/api/sessions/${encodeURIComponent(h.session)}`;
  const commands: [string, string][] = [
    ['wstap replay', replayCommand(origin, target ?? 'ws://localhost:8000', h)],
    ['websocat', websocatCommand(origin, h)],
    ['wscat', wscatCommand(origin, h)],
  ];
  return (
    <section class="panel handoffs" data-testid="handoffs">
      <h2>Take it elsewhere</h2>
      <p>
        <a href={`${base}.har`} download={`${h.session}.har`}>
          HAR
        </a>{' '}
        ·{' '}
        <a href={`${base}.jsonl`} download={`${h.session}.jsonl`}>
          recording (.jsonl)
        </a>
      </p>
      {commands.map(([name, cmd]) => (
        <div key={name} class="command" data-command={name}>
          <div>
            <strong>{name}</strong> <CopyButton text={cmd} label="copy" />
          </div>
          <pre>{cmd}</pre>
        </div>
      ))}
      <p class="muted small">Secrets are placeholders (&lt;token&gt;): wstap never shows them.</p>
    </section>
  );
}

interface OperationRow {
  operation: string;
  count: number;
  errors: number;
  unanswered?: number;
  p50?: number;
  p95?: number;
  max?: number;
}

const pct = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;

/**
 * The application protocol's operations: at the end the session's summary (every operation, with
 * what was never answered); while open, what the page has seen answered.
 */
export function OperationsPanel({
  end,
  protocol,
  store,
}: {
  end: EndView | undefined;
  protocol: string | undefined;
  store: MessageStore;
  version: number;
}) {
  const app = end?.app;
  const name = app?.protocol ?? protocol;
  if (!name) return null;
  const rows: OperationRow[] = app
    ? app.operations.map((o) => ({
        operation: o.operation,
        count: o.count,
        errors: o.errors,
        unanswered: o.unanswered,
        ...(o.latency ? { p50: o.latency.p50, p95: o.latency.p95, max: o.latency.max } : {}),
      }))
    : [...store.operations].map(([operation, o]) => {
        const sorted = [...o.samples].sort((a, b) => a - b);
        return {
          operation,
          count: o.answered,
          errors: o.errors,
          ...(sorted.length ? { p50: pct(sorted, 0.5), p95: pct(sorted, 0.95), max: sorted.at(-1)! } : {}),
        };
      });
  return (
    <section class="panel" data-testid="operations">
      <h2>
        Operations <span class="proto">{name}</span>
        {app ? <span class="muted"> (detected by {app.by})</span> : null}
      </h2>
      {!rows.length && <p class="muted">None yet.</p>}
      {rows.length > 0 && (
        <table class="table">
          <thead>
            <tr>
              <th>operation</th>
              <th class="num">{app ? 'count' : 'answered'}</th>
              <th class="num">errors</th>
              {app && <th class="num">unanswered</th>}
              <th class="num">p50 / p95 / max</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.operation}>
                <td class="mono">{r.operation}</td>
                <td class="num">{r.count}</td>
                <td class={`num${r.errors ? ' warn-text' : ''}`}>{r.errors}</td>
                {app && <td class={`num${r.unanswered ? ' warn-text' : ''}`}>{r.unanswered}</td>}
                <td class="num">{r.p50 !== undefined ? `${ms(r.p50)} / ${ms(r.p95!)} / ${ms(r.max!)}` : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
