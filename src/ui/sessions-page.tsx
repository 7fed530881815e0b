/**
 * /__wstap/: every kept session, newest first, live; filters (path, origin, outcome, finding,
 * open or closed) kept in the address; the findings of all sessions, each code once.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { FINDING_CATALOG } from '../session/finding.js';
import type { SessionOutcome } from '../session/session.js';
import { type FindingGroup, getJson, type SessionList, type SessionSummary, sessionUrl, stream } from './api.js';
import { bytes, clock, count, ms } from './format.js';
import { HeldPanel, RulesPanel, useToken } from './controls.js';
import { Badge, Badges, Header, useFrameScheduler } from './parts.js';

interface ListFilter {
  path: string;
  origin: string;
  outcome: '' | SessionOutcome;
  finding: string;
  state: '' | 'open' | 'closed';
  protocol: string;
}

const FILTER_KEYS = ['path', 'origin', 'outcome', 'finding', 'state', 'protocol'] as const;

function filterFromUrl(): ListFilter {
  const q = new URLSearchParams(location.search);
  return {
    path: q.get('path') ?? '',
    origin: q.get('origin') ?? '',
    outcome: (q.get('outcome') ?? '') as ListFilter['outcome'],
    finding: q.get('finding') ?? '',
    state: (q.get('state') ?? '') as ListFilter['state'],
    protocol: q.get('protocol') ?? '',
  };
}

function filterToUrl(f: ListFilter): void {
  const q = new URLSearchParams();
  for (const k of FILTER_KEYS) if (f[k]) q.set(k, f[k]);
  const search = q.toString();
  history.replaceState(null, '', search ? `?${search}` : location.pathname);
}

function matches(s: SessionSummary, f: ListFilter): boolean {
  if (f.path && !s.path.toLowerCase().includes(f.path.toLowerCase())) return false;
  if (f.origin && !s.origins.some((o) => o.toLowerCase().includes(f.origin.toLowerCase()))) return false;
  if (f.outcome && s.outcome !== f.outcome) return false;
  if (f.finding && !s.findings.some((x) => x.code === f.finding)) return false;
  if (f.state === 'open' && !s.open) return false;
  if (f.state === 'closed' && s.open) return false;
  if (f.protocol && (s.protocol ?? 'none') !== f.protocol) return false;
  return true;
}

/** The sessions, kept up to date by the event stream (without messages: counts come each second). */
function useSessions(): { sessions: SessionSummary[]; evicted: SessionList['evicted']; live: 'live' | 'down'; version: number } {
  const byId = useRef(new Map<string, SessionSummary>());
  const [evicted, setEvicted] = useState({ sessions: 0, messages: 0 });
  const [live, setLive] = useState<'live' | 'down'>('down');
  const [version, setVersion] = useState(0);
  const redraw = useFrameScheduler(() => setVersion((v) => v + 1));
  useEffect(() => {
    const put = (s: SessionSummary): void => {
      byId.current.set(s.id, s);
      redraw();
    };
    const reload = (): void => {
      getJson<SessionList>('sessions').then(
        (list) => {
          byId.current = new Map(list.sessions.map((s) => [s.id, s]));
          setEvicted(list.evicted);
          redraw();
        },
        () => {},
      );
    };
    const close = stream('?messages=none', {
      open: () => {
        setLive('live');
        reload();
      },
      error: () => setLive('down'),
      session: put,
      end: put,
      finding: (e) => {
        const s = byId.current.get(e.session);
        if (s) put({ ...s, findings: [...s.findings, { code: e.finding.code, severity: e.finding.severity }] });
      },
      activity: (a) => {
        for (const x of a.sessions) {
          const s = byId.current.get(x.id);
          if (s) byId.current.set(x.id, { ...s, messages: x.messages });
        }
        redraw();
      },
      evicted: (e) => {
        setEvicted((v) => ({ sessions: v.sessions + e.sessions, messages: v.messages + e.messages }));
        reload();
      },
    });
    return close;
  }, [redraw]);
  // Newest first: ids are numbered in order (ws-1, ws-2, ...), and openedAt breaks no ties.
  const sessions = useMemo(() => [...byId.current.values()].sort((a, b) => b.openedAt - a.openedAt || idNumber(b.id) - idNumber(a.id)), [version]);
  return { sessions, evicted, live, version };
}

const idNumber = (id: string): number => Number(/\d+$/.exec(id)?.[0] ?? 0);

export function SessionsPage() {
  const { sessions, evicted, live, version } = useSessions();
  const token = useToken();
  const [filter, setFilter] = useState<ListFilter>(filterFromUrl);
  const [findings, setFindings] = useState<FindingGroup[]>([]);
  const set = (k: keyof ListFilter, v: string): void => {
    const next = { ...filter, [k]: v };
    setFilter(next);
    filterToUrl(next);
  };
  // The findings panel follows the list (at most once a second).
  const findingsKey = sessions.map((s) => `${s.id}:${s.findings.length}`).join(',');
  useEffect(() => {
    const t = setTimeout(
      () =>
        getJson<{ findings: FindingGroup[] }>('findings').then(
          (r) => setFindings(r.findings),
          () => {},
        ),
      300,
    );
    return () => clearTimeout(t);
  }, [findingsKey]);
  const shown = useMemo(() => sessions.filter((s) => matches(s, filter)), [sessions, filter, version]);
  const codes = [...new Set(sessions.flatMap((s) => s.findings.map((f) => f.code)))].sort();
  const protocols = [...new Set(sessions.map((s) => s.protocol ?? 'none'))].sort();
  return (
    <>
      <Header live={live} token={token}>
        <span class="muted">
          {count(sessions.length)} sessions, {count(sessions.filter((s) => s.open).length)} open
        </span>
      </Header>
      <main class="page sessions">
        <section class="list">
          <div class="filters">
            <input placeholder="path" value={filter.path} onInput={(e) => set('path', e.currentTarget.value)} aria-label="filter by path" />
            <input placeholder="origin" value={filter.origin} onInput={(e) => set('origin', e.currentTarget.value)} aria-label="filter by origin" />
            <select value={filter.outcome} onChange={(e) => set('outcome', e.currentTarget.value)} aria-label="filter by outcome">
              <option value="">any outcome</option>
              {(['tunnel', 'rejected', 'failed', 'invalid', 'aborted'] as const).map((o) => (
                <option key={o} value={o}>
                  {o}
                </option>
              ))}
            </select>
            <select value={filter.finding} onChange={(e) => set('finding', e.currentTarget.value)} aria-label="filter by finding">
              <option value="">any finding</option>
              {[...new Set([...codes, ...(filter.finding ? [filter.finding] : [])])].map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </select>
            <select value={filter.protocol} onChange={(e) => set('protocol', e.currentTarget.value)} aria-label="filter by protocol">
              <option value="">any protocol</option>
              {[...new Set([...protocols, ...(filter.protocol ? [filter.protocol] : [])])].map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
            <select value={filter.state} onChange={(e) => set('state', e.currentTarget.value)} aria-label="open or closed">
              <option value="">open and closed</option>
              <option value="open">open</option>
              <option value="closed">closed</option>
            </select>
            {FILTER_KEYS.some((k) => filter[k]) && (
              <button
                type="button"
                onClick={() => {
                  const none = { path: '', origin: '', outcome: '', finding: '', state: '', protocol: '' } as const;
                  setFilter(none);
                  filterToUrl(none);
                }}
              >
                clear
              </button>
            )}
          </div>
          {evicted.sessions > 0 && (
            <p class="note" data-testid="evicted">
              {count(evicted.sessions)} older sessions were let go (the view keeps the last sessions: see --ui-history).
            </p>
          )}
          <SessionTable sessions={shown} />
          {!sessions.length && (
            <p class="empty">No session yet. Point a client at this proxy (ws://{location.host}/your-path): it appears here as it connects.</p>
          )}
          {sessions.length > 0 && !shown.length && <p class="empty">No session matches the filters.</p>}
        </section>
        <aside class="side-panels">
          <RulesPanel token={token[0]} />
          <HeldPanel token={token[0]} />
          <FindingsPanel findings={findings} onPick={(code) => set('finding', filter.finding === code ? '' : code)} picked={filter.finding} />
        </aside>
      </main>
    </>
  );
}

function SessionTable({ sessions }: { sessions: SessionSummary[] }) {
  if (!sessions.length) return null;
  return (
    <table class="table" data-testid="sessions">
      <thead>
        <tr>
          <th>session</th>
          <th>opened</th>
          <th>client</th>
          <th>path</th>
          <th>protocol</th>
          <th>origin</th>
          <th>answer</th>
          <th>findings</th>
          <th class="num">↑ client</th>
          <th class="num">↓ server</th>
          <th>close</th>
          <th class="num">latency p50 / p95</th>
        </tr>
      </thead>
      <tbody>
        {sessions.map((s) => (
          <tr key={s.id} data-session={s.id} class={s.open ? 'open' : ''}>
            <td>
              <a href={sessionUrl(s.id)}>{s.id}</a>
              {s.open && <span class="dot" title="open" />}
            </td>
            <td class="mono">{clock(s.openedAt)}</td>
            <td class="mono">{s.client}</td>
            <td class="mono path" title={s.path}>
              {s.path}
            </td>
            <td class="proto">{s.protocol ?? ''}</td>
            <td class={s.origins.length > 1 ? 'warn-text' : ''} title={s.origins.join('\n')}>
              {s.origins.length ? s.origins.join(', ') : <span class="muted">none</span>}
              {s.origins.length > 1 && ` (${s.origins.length} lines)`}
            </td>
            <td>
              {s.status !== undefined ? <span class={s.status === 101 ? 'ok-text' : 'error-text'}>{s.status}</span> : null} {s.outcome}
            </td>
            <td>
              <Badges findings={s.findings} />
              {s.altered && (
                <span
                  class="badge altered"
                  title={Object.entries(s.altered)
                    .map(([k, n]) => `${n} ${k}`)
                    .join(', ')}
                  data-testid="altered"
                >
                  altered
                </span>
              )}
            </td>
            <td class="num">
              {count(s.messages.client.messages)} <span class="muted">{bytes(s.messages.client.bytes)}</span>
            </td>
            <td class="num">
              {count(s.messages.server.messages)} <span class="muted">{bytes(s.messages.server.bytes)}</span>
            </td>
            <td>
              {s.close ? (
                <span title={s.close.meaning} class={s.close.code === 1000 || s.close.code === 1001 ? '' : 'warn-text'}>
                  {s.close.code} by {s.close.initiator}
                </span>
              ) : s.open ? (
                <span class="muted">open</span>
              ) : null}
            </td>
            <td class="num">{s.latency?.requests ? `${ms(s.latency.requests.p50)} / ${ms(s.latency.requests.p95)}` : ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function FindingsPanel({ findings, onPick, picked }: { findings: FindingGroup[]; onPick(code: string): void; picked: string }) {
  return (
    <section class="findings-panel" data-testid="findings-panel">
      <h2>Findings</h2>
      {!findings.length && <p class="muted">None in the kept sessions.</p>}
      {findings.map((g) => (
        <div key={g.code} class={`finding-group ${picked === g.code ? 'picked' : ''}`} data-code={g.code}>
          <div>
            <Badge f={g} />{' '}
            <button type="button" class="link" onClick={() => onPick(g.code)} title="show these sessions">
              {g.sessions.length} {g.sessions.length === 1 ? 'session' : 'sessions'}
            </button>
          </div>
          <p class="when">{FINDING_CATALOG[g.code].when}</p>
          <p>
            <a href={sessionUrl(g.sessions[0]!)}>{g.sessions[0]}</a>: {g.message}
          </p>
          <p class="hint">{g.hint}</p>
        </div>
      ))}
    </section>
  );
}
