/**
 * The message timeline: a virtual list (only the rows in view exist in the page, whatever the
 * count), following the tail unless the user has scrolled up, keeping its place when the
 * oldest rows go. Arrow keys move the selection.
 */
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { HistoryMessage } from './api.js';
import { bytes, clock, ms, since } from './format.js';
import type { MessageStore } from './store.js';

export const ROW = 24;
const OVERSCAN = 12;

export function preview(m: HistoryMessage): string {
  if (m.kind === 'close') return `${m.closeCode ?? 'no code'}${m.text ? ` ${m.text}` : ''}`;
  if (m.text !== undefined) return m.text.length > 300 ? `${m.text.slice(0, 300)}…` : m.text;
  if (m.base64 !== undefined) {
    const bin = atob(m.base64.slice(0, 64));
    let hex = '';
    for (let i = 0; i < Math.min(bin.length, 32); i++) hex += `${bin.charCodeAt(i).toString(16).padStart(2, '0')} `;
    return hex.trim() + (m.size > 32 ? ' …' : '');
  }
  return '';
}

/** The message this one answers, and how long it took: the protocol's pairing first (an ack, a result), else the id or order pairing. */
function answerText(m: HistoryMessage): string {
  const a = m.app?.packets.find((p) => p.answers)?.answers;
  if (a) return `↩#${a.seq} ${ms(a.ms)}`;
  return m.answers !== undefined && m.latencyMs !== undefined ? `↩#${m.answers} ${ms(m.latencyMs)}` : '';
}

function Row({ m, top, selected, openedAt }: { m: HistoryMessage; top: number; selected: boolean; openedAt: number }) {
  return (
    <div
      class={`row ${m.from} kind-${m.kind}${selected ? ' selected' : ''}`}
      style={{ transform: `translateY(${top}px)` }}
      data-seq={m.seq}
      role="option"
      tabIndex={-1}
      aria-selected={selected}
    >
      <span class="c-seq">#{m.seq}</span>
      <span class="c-dir" title={m.from === 'client' ? 'client → server' : 'server → client'}>
        {m.from === 'client' ? '↑' : '↓'}
      </span>
      <span class="c-time" title={clock(m.ts)}>
        {since(m.t)}
      </span>
      <span class="c-kind">{m.kind}</span>
      <span class="c-size" title={`${m.size} B decoded, ${m.wireSize} B on the wire${m.compressed ? ' (compressed)' : ''}`}>
        {bytes(m.size)}
        {m.compressed ? ' z' : ''}
      </span>
      <span class="c-lat">{answerText(m)}</span>
      <span class="c-preview">
        {m.app && <span class="c-app">{m.app.line}</span>}
        {preview(m)}
        {m.truncated ? ' [cut]' : ''}
      </span>
      <span class="c-abs">{clock(m.ts || openedAt + m.t)}</span>
    </div>
  );
}

export interface TimelineProps {
  store: MessageStore;
  version: number;
  selected: number | undefined;
  onSelect(seq: number): void;
  /** Bumped to bring the selected row into view. */
  reveal: number;
  openedAt: number;
}

export function Timeline({ store, version, selected, onSelect, reveal, openedAt }: TimelineProps) {
  const box = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ top: 0, height: 480 });
  const follow = useRef(true);
  const [following, setFollowing] = useState(true);
  const dropped = useRef(store.droppedMatches);
  const n = store.matching;

  // After each batch: stay at the bottom when following; otherwise keep the same rows in view.
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    const gone = store.droppedMatches - dropped.current;
    dropped.current = store.droppedMatches;
    if (follow.current) el.scrollTop = el.scrollHeight;
    else if (gone > 0) el.scrollTop = Math.max(0, el.scrollTop - gone * ROW);
    if (el.scrollTop !== view.top || el.clientHeight !== view.height) setView({ top: el.scrollTop, height: el.clientHeight });
  }, [version, n]);

  useLayoutEffect(() => {
    const el = box.current;
    if (!el || selected === undefined) return;
    const k = store.indexOfSeq(selected);
    if (k < 0) return;
    if (k * ROW < el.scrollTop || (k + 1) * ROW > el.scrollTop + el.clientHeight) {
      el.scrollTop = Math.max(0, k * ROW - el.clientHeight / 2);
      follow.current = false;
      setFollowing(false);
    }
  }, [reveal]);

  const onScroll = (): void => {
    const el = box.current!;
    const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - ROW * 1.5;
    if (atBottom !== follow.current) {
      follow.current = atBottom;
      setFollowing(atBottom);
    }
    setView({ top: el.scrollTop, height: el.clientHeight });
  };

  const first = Math.max(0, Math.floor(view.top / ROW) - OVERSCAN);
  const last = Math.min(n, Math.ceil((view.top + view.height) / ROW) + OVERSCAN);
  const rows = [];
  for (let k = first; k < last; k++) {
    const m = store.match(k);
    if (m) rows.push(<Row key={m.seq} m={m} top={k * ROW} selected={m.seq === selected} openedAt={openedAt} />);
  }

  const move = (delta: number): void => {
    const k = selected === undefined ? n - 1 : store.indexOfSeq(selected) + delta;
    const m = store.match(Math.max(0, Math.min(n - 1, k)));
    if (m) onSelect(m.seq);
  };

  return (
    <div class="timeline-wrap">
      <div
        class="timeline"
        ref={box}
        onScroll={onScroll}
        role="listbox"
        tabIndex={0}
        aria-label="messages"
        data-testid="timeline"
        onClick={(e) => {
          const row = (e.target as HTMLElement).closest<HTMLElement>('[data-seq]');
          if (row) onSelect(Number(row.dataset['seq']));
        }}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
            e.preventDefault();
            move(e.key === 'ArrowDown' ? 1 : -1);
          }
        }}
      >
        <div class="spacer" style={{ height: `${n * ROW}px` }}>
          {rows}
        </div>
      </div>
      {!following && n > 0 && (
        <button
          type="button"
          class="follow"
          onClick={() => {
            follow.current = true;
            setFollowing(true);
            const el = box.current!;
            el.scrollTop = el.scrollHeight;
          }}
        >
          ↓ follow the newest
        </button>
      )}
    </div>
  );
}
