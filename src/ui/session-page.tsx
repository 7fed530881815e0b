/**
 * /__wstap/sessions/<id>: one session, live. The kept messages are fetched in pages, then the
 * event stream (this session's messages only) keeps the timeline current; batches are applied
 * once per animation frame, a gap (a reader that fell behind) is fetched from the API.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Finding } from '../session/finding.js';
import { closeCodeMeaning } from '../wire/close-codes.js';
import { ApiError, getJson, type HistoryMessage, type MessagePage, type ProxyInfo, type SessionDetail, stream } from './api.js';
import { bytes, clock, count, fromBase64, hexDump, ms, parseJson, since } from './format.js';
import { JsonTree } from './json-tree.js';
import { LatencyChart } from './latency-chart.js';
import { ActionsPanel, ActPanel, HeldPanel, useToken } from './controls.js';
import { Badges, Header, useFrameScheduler } from './parts.js';
import type { ActionView } from '../views/views.js';
import { ClosePanel, FindingsList, Handoffs, HandshakePanel, OperationsPanel, StatsPanel } from './session-panels.js';
import { DEFAULT_FILTER, type Filter, MessageStore, STORE_LIMITS } from './store.js';
import { Timeline } from './timeline.js';

function filterFromUrl(): Filter {
  const q = new URLSearchParams(location.search);
  const dir = q.get('dir');
  return {
    control: q.get('control') === '1',
    direction: dir === 'client' || dir === 'server' ? dir : 'both',
    text: q.get('q') ?? '',
    regex: q.get('re') === '1',
  };
}

function stateToUrl(f: Filter, selected: number | undefined): void {
  const q = new URLSearchParams();
  if (f.control) q.set('control', '1');
  if (f.direction !== 'both') q.set('dir', f.direction);
  if (f.text) q.set('q', f.text);
  if (f.regex) q.set('re', '1');
  if (selected !== undefined) q.set('m', String(selected));
  const search = q.toString();
  history.replaceState(null, '', search ? `?${search}` : location.pathname);
}

/** Pages of kept messages after `after` until there are no more (or `upTo` is passed). */
async function fetchMessages(id: string, after: number, upTo = Number.POSITIVE_INFINITY): Promise<{ messages: HistoryMessage[]; dropped: number }> {
  const out: HistoryMessage[] = [];
  let dropped = 0;
  for (;;) {
    const page = await getJson<MessagePage>(`sessions/${encodeURIComponent(id)}/messages?after=${after}&limit=5000`);
    dropped = page.dropped;
    for (const m of page.messages) if (m.seq <= upTo) out.push(m);
    const last = page.messages.at(-1)?.seq;
    if (!page.more || last === undefined || last >= upTo) return { messages: out, dropped };
    after = last;
  }
}

interface SessionData {
  detail: SessionDetail | undefined;
  /** What wstap did to it: the kept ones, then the live ones. */
  actions: ActionView[];
  missing: string | undefined;
  live: 'live' | 'down';
  liveFindings: Finding[];
  droppedByWstap: number;
  version: number;
  /** Messages held while paused. */
  queued: number;
  /** Draw again after the store changed here. */
  redraw(): void;
  /** Apply what is held (after a resume). */
  apply(): void;
}

/** The session's detail and messages, kept current: pages of kept messages, then the stream of this session's messages. */
function useSession(id: string, store: MessageStore, paused: { current: boolean }): SessionData {
  const [detail, setDetail] = useState<SessionDetail>();
  const [missing, setMissing] = useState<string>();
  const [version, setVersion] = useState(0);
  const [live, setLive] = useState<'live' | 'down'>('down');
  const [queued, setQueued] = useState(0);
  const [droppedByWstap, setDroppedByWstap] = useState(0);
  const [liveFindings, setLiveFindings] = useState<Finding[]>([]);
  const [actions, setActions] = useState<ActionView[]>([]);
  const pending = useRef<HistoryMessage[]>([]);
  const loading = useRef(true);

  const fillGap = (gap: { from: number; to: number }): void => {
    fetchMessages(id, gap.from - 1, gap.to).then(
      (r) => {
        store.fill(r.messages);
        setVersion(store.version);
      },
      () => {},
    );
  };

  const apply = useFrameScheduler(() => {
    if (loading.current) return;
    if (paused.current) {
      // Held while paused, within the page's bound: what would be let go on arrival goes now.
      const over = pending.current.length - STORE_LIMITS.messages;
      if (over > 0) {
        pending.current.splice(0, over);
        store.evicted += over;
      }
      setQueued(pending.current.length);
      return;
    }
    const batch = pending.current;
    pending.current = [];
    setQueued(0);
    const gap = store.add(batch);
    if (gap) fillGap(gap);
    setVersion(store.version);
  });

  const loadDetail = useCallback((): void => {
    getJson<SessionDetail>(`sessions/${encodeURIComponent(id)}`).then(
      (d) => {
        setDetail(d);
        setLiveFindings(d.liveFindings);
        setActions(d.actions);
        setDroppedByWstap(d.kept.dropped);
      },
      (err: unknown) => setMissing(err instanceof ApiError && err.status === 404 ? err.message : String(err)),
    );
  }, [id]);

  useEffect(() => {
    loadDetail();
    // The stream first, then the kept messages: nothing falls between the two.
    return stream(`?session=${encodeURIComponent(id)}`, {
      open: () => {
        setLive('live');
        loading.current = true;
        fetchMessages(id, store.lastSeq).then(
          (r) => {
            store.add(r.messages);
            setDroppedByWstap(r.dropped);
            loading.current = false;
            setVersion(store.version);
            apply();
          },
          () => {
            loading.current = false;
          },
        );
      },
      error: () => setLive('down'),
      messages: (batch) => {
        pending.current.push(...batch);
        apply();
      },
      session: (s) => {
        if (s.id === id) loadDetail();
      },
      end: (s) => {
        if (s.id === id) loadDetail();
      },
      finding: (e) => {
        if (e.session === id) setLiveFindings((v) => [...v, e.finding]);
      },
      action: (e) => {
        if (e.session === id) setActions((v) => [...v, e.action]);
      },
      activity: (a) => {
        const mine = a.sessions.find((s) => s.id === id);
        if (mine) setDetail((d) => (d ? { ...d, summary: { ...d.summary, messages: mine.messages } } : d));
      },
    });
  }, [id]);

  return { detail, missing, live, liveFindings, actions, droppedByWstap, version, queued, redraw: () => setVersion(store.version), apply };
}

export function SessionPage({ id }: { id: string }) {
  const [info, setInfo] = useState<ProxyInfo>();
  const [filter, setFilterState] = useState<Filter>(filterFromUrl);
  const [filterError, setFilterError] = useState<string>();
  const [selected, setSelected] = useState<number | undefined>(() => {
    const m = Number(new URLSearchParams(location.search).get('m'));
    return Number.isInteger(m) && m > 0 ? m : undefined;
  });
  const [reveal, setReveal] = useState(0);
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(false);
  const store = useMemo(() => new MessageStore(filter), [id]);
  const data = useSession(id, store, pausedRef);
  const token = useToken();
  useEffect(() => {
    getJson<ProxyInfo>('info').then(setInfo, () => {});
  }, []);

  const setFilter = (next: Filter): void => {
    setFilterState(next);
    setFilterError(store.setFilter(next));
    data.redraw();
    stateToUrl(next, selected);
  };
  const select = (seq: number, bringIntoView = false): void => {
    setSelected(seq);
    stateToUrl(filter, seq);
    if (bringIntoView) setReveal((r) => r + 1);
  };
  const togglePause = (): void => {
    pausedRef.current = !pausedRef.current;
    setPaused(pausedRef.current);
    data.apply();
  };

  const { detail, missing, live } = data;
  if (missing || !detail) {
    return (
      <>
        <Header live={live} />
        <main class="page">
          {missing ? (
            <p class="empty" data-testid="missing">
              {missing}. <a href="/__wstap/">All sessions</a>
            </p>
          ) : (
            <p class="muted">Loading {id}…</p>
          )}
        </main>
      </>
    );
  }

  const findings: Finding[] = [...detail.handshake.findings, ...(detail.end ? detail.end.findings : data.liveFindings)];
  const s = detail.summary;
  return (
    <>
      <Header live={paused ? 'paused' : live} token={token}>
        <a href="/__wstap/">sessions</a> / <strong>{id}</strong>
      </Header>
      <main class="page session">
        <div class="title">
          <h1>
            <span class="mono">{s.path}</span> {s.status !== undefined && <span class={s.status === 101 ? 'ok-text' : 'error-text'}>{s.status}</span>}{' '}
            <span class="muted">{s.open ? 'open' : s.outcome === 'tunnel' ? 'closed' : s.outcome}</span>
          </h1>
          <Badges findings={findings} />
          {data.actions.length > 0 && <span class="badge altered">altered by wstap</span>}
        </div>
        <div class="session-grid">
          <div class="side">
            <HeldPanel session={id} token={token[0]} />
            <ActPanel session={id} open={s.open} token={token[0]} />
            <HandshakePanel detail={detail} findings={findings} />
            <FindingsList findings={findings} />
            <ActionsPanel actions={data.actions} />
            <ClosePanel end={detail.end} open={s.open} />
            <OperationsPanel end={detail.end} protocol={s.protocol} store={store} version={data.version} />
            <StatsPanel detail={detail} />
            <section class="panel">
              <h2>Latency</h2>
              <LatencyChart store={store} version={data.version} />
            </section>
            <Handoffs detail={detail} target={info?.target} />
          </div>
          <div class="main">
            <FilterBar
              filter={filter}
              setFilter={setFilter}
              error={filterError}
              store={store}
              paused={paused}
              queued={data.queued}
              togglePause={togglePause}
            />
            {(store.evicted > 0 || data.droppedByWstap > 0) && (
              <p class="note" data-testid="message-evicted">
                {data.droppedByWstap > 0 && `${count(data.droppedByWstap)} older messages were let go by wstap (--ui-history). `}
                {store.evicted > 0 && `${count(store.evicted)} older messages were let go by this page (it keeps ${count(STORE_LIMITS.messages)}).`}
              </p>
            )}
            <Timeline
              store={store}
              version={data.version}
              selected={selected}
              onSelect={(seq) => select(seq)}
              reveal={reveal}
              openedAt={s.openedAt}
            />
            <MessageDetail m={selected !== undefined ? store.bySeq(selected) : undefined} store={store} onJump={(seq) => select(seq, true)} />
          </div>
        </div>
      </main>
    </>
  );
}

interface FilterBarProps {
  filter: Filter;
  setFilter(f: Filter): void;
  error: string | undefined;
  store: MessageStore;
  paused: boolean;
  queued: number;
  togglePause(): void;
}

function FilterBar({ filter, setFilter, error, store, paused, queued, togglePause }: FilterBarProps) {
  return (
    <div class="filters">
      <button type="button" onClick={togglePause} data-testid="pause">
        {paused ? `▶ resume${queued ? ` (${count(queued)} new)` : ''}` : '❚❚ pause'}
      </button>
      <label class="check">
        <input
          type="checkbox"
          checked={filter.control}
          onChange={(e) => setFilter({ ...filter, control: e.currentTarget.checked })}
          data-testid="show-control"
        />
        control frames {filter.control ? `(${count(store.control)})` : `(${count(store.control)} hidden)`}
      </label>
      <select
        value={filter.direction}
        onChange={(e) => setFilter({ ...filter, direction: e.currentTarget.value as Filter['direction'] })}
        aria-label="direction"
      >
        <option value="both">both ways</option>
        <option value="client">↑ client → server</option>
        <option value="server">↓ server → client</option>
      </select>
      <input
        class="search"
        placeholder={filter.regex ? 'regular expression' : 'filter text'}
        value={filter.text}
        onInput={(e) => setFilter({ ...filter, text: e.currentTarget.value })}
        aria-label="filter messages"
        data-testid="message-filter"
      />
      <label class="check">
        <input type="checkbox" checked={filter.regex} onChange={(e) => setFilter({ ...filter, regex: e.currentTarget.checked })} /> regex
      </label>
      {error && <span class="error-text">{error}</span>}
      {(filter.text || filter.direction !== 'both') && (
        <button type="button" onClick={() => setFilter({ ...DEFAULT_FILTER, control: filter.control })}>
          clear
        </button>
      )}
      <span class="grow" />
      <span class="muted" data-testid="message-count">
        {count(store.matching)} of {count(store.size)} shown
      </span>
    </div>
  );
}

function MessageDetail({ m, store, onJump }: { m: HistoryMessage | undefined; store: MessageStore; onJump(seq: number): void }) {
  const [tab, setTab] = useState<'tree' | 'text' | 'hex'>('tree');
  if (!m) return <section class="detail muted">Select a message (or use the arrow keys in the list).</section>;
  const json = parseJson(m.text);
  const data = m.base64 !== undefined ? fromBase64(m.base64) : m.text !== undefined ? new TextEncoder().encode(m.text) : new Uint8Array();
  const shown = tab === 'tree' && json === undefined ? (m.base64 !== undefined ? 'hex' : 'text') : tab;
  const answeredBy = store.answeredBy.get(m.seq);
  const answer = answeredBy !== undefined ? store.bySeq(answeredBy) : undefined;
  return (
    <section class="detail" data-testid="message-detail" data-seq={m.seq}>
      <div class="detail-head">
        <strong>#{m.seq}</strong> {m.from === 'client' ? '↑ client → server' : '↓ server → client'} · {m.kind} · {clock(m.ts)} ({since(m.t)} since
        open) · {bytes(m.size)} decoded, {bytes(m.wireSize)} on the wire{m.compressed ? ' (permessage-deflate)' : ''} · {m.frames}{' '}
        {m.frames === 1 ? 'frame' : 'frames'}
        {m.truncated && ' · cut at --max-message-size'}
      </div>
      {m.answers !== undefined && (
        <p class="pair" data-testid="pair">
          answers{' '}
          <button type="button" class="link" onClick={() => onJump(m.answers!)}>
            #{m.answers}
          </button>{' '}
          after {ms(m.latencyMs ?? 0)}
        </p>
      )}
      {answeredBy !== undefined && (
        <p class="pair" data-testid="pair">
          answered by{' '}
          <button type="button" class="link" onClick={() => onJump(answeredBy)}>
            #{answeredBy}
          </button>
          {answer?.latencyMs !== undefined && ` after ${ms(answer.latencyMs)}`}
        </p>
      )}
      {m.kind === 'close' && (
        <p class="close-line">
          close {m.closeCode ?? '(no code: 1005)'}: {closeCodeMeaning(m.closeCode ?? 1005)}
          {m.text ? `, reason "${m.text}"` : ''}
        </p>
      )}
      <div class="tabs">
        {(['tree', 'text', 'hex'] as const).map((t) => (
          <button type="button" key={t} class={shown === t ? 'on' : ''} onClick={() => setTab(t)} disabled={t === 'tree' && json === undefined}>
            {t === 'tree' ? 'JSON' : t}
          </button>
        ))}
      </div>
      {shown === 'tree' && <JsonTree key={m.seq} value={json} />}
      {shown === 'text' && <pre class="payload">{json !== undefined ? JSON.stringify(json, null, 2) : (m.text ?? '')}</pre>}
      {shown === 'hex' && (
        <pre class="payload hex">
          {hexDump(data)}
          {data.length > 4096 ? `\n… ${count(data.length - 4096)} more bytes` : ''}
          {m.kind === 'binary' && m.size > data.length ? `\n(wstap keeps the first ${bytes(data.length)} of a binary message for the view)` : ''}
        </pre>
      )}
    </section>
  );
}
