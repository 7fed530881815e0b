/** A JSON value as a tree: objects and arrays fold, a search marks matching keys and values and opens their parents. */
import { useState } from 'preact/hooks';

function contains(v: unknown, q: string): boolean {
  if (!q) return false;
  if (v !== null && typeof v === 'object') {
    return Object.entries(v as Record<string, unknown>).some(([k, x]) => k.toLowerCase().includes(q) || contains(x, q));
  }
  return String(v).toLowerCase().includes(q);
}

function Leaf({ v, q }: { v: unknown; q: string }) {
  const text = typeof v === 'string' ? JSON.stringify(v) : String(v);
  const cls = v === null ? 'j-null' : typeof v === 'string' ? 'j-str' : typeof v === 'number' ? 'j-num' : 'j-bool';
  const hit = q !== '' && text.toLowerCase().includes(q);
  return <span class={`${cls}${hit ? ' hit' : ''}`}>{text}</span>;
}

function Node({ name, v, q, depth }: { name?: string; v: unknown; q: string; depth: number }) {
  const isObj = v !== null && typeof v === 'object';
  const [open, setOpen] = useState(depth < 2);
  const keyHit = q !== '' && name?.toLowerCase().includes(q) === true;
  const label =
    name !== undefined ? (
      <>
        <span class={`j-key${keyHit ? ' hit' : ''}`}>{name}</span>:{' '}
      </>
    ) : null;
  if (!isObj) {
    return (
      <div class="j-row">
        {label}
        <Leaf v={v} q={q} />
      </div>
    );
  }
  const entries = Object.entries(v as Record<string, unknown>);
  const isArr = Array.isArray(v);
  const shown = open || (q !== '' && contains(v, q));
  return (
    <div class="j-row">
      <button type="button" class="j-toggle" onClick={() => setOpen(!shown)} aria-expanded={shown}>
        {shown ? '▾' : '▸'}
      </button>
      {label}
      <span class="muted">{isArr ? `[${entries.length}]` : `{${entries.length}}`}</span>
      {shown && (
        <div class="j-children">
          {entries.map(([k, x]) => (
            <Node key={k} name={isArr ? k : JSON.stringify(k).slice(1, -1)} v={x} q={q} depth={depth + 1} />
          ))}
        </div>
      )}
    </div>
  );
}

export function JsonTree({ value }: { value: unknown }) {
  const [q, setQ] = useState('');
  return (
    <div class="json-tree" data-testid="json-tree">
      <input placeholder="search keys and values" value={q} onInput={(e) => setQ(e.currentTarget.value)} aria-label="search the JSON" />
      <Node v={value} q={q.toLowerCase()} depth={0} />
    </div>
  );
}
