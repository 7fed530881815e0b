/** Small pieces both pages use: the header, finding badges, a copy button, the frame scheduler. */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Severity } from '../session/finding.js';
import { BASE, getJson, type ProxyInfo } from './api.js';
import { TokenBox } from './controls.js';

export function Header({
  live,
  children,
  token,
}: {
  live: 'live' | 'down' | 'paused';
  children?: preact.ComponentChildren;
  token?: [string, (t: string) => void];
}) {
  const [info, setInfo] = useState<ProxyInfo>();
  useEffect(() => {
    getJson<ProxyInfo>('info').then(setInfo, () => {});
  }, []);
  return (
    <header class="top">
      <a class="brand" href={BASE}>
        wstap
      </a>
      {info && (
        <span class="target" title="the backend wstap forwards to">
          → {info.target}
        </span>
      )}
      <span class="grow">{children}</span>
      {token && <TokenBox token={token[0]} setToken={token[1]} />}
      <span class={`live ${live}`} data-testid="stream-state">
        {live === 'live' ? '● live' : live === 'paused' ? '❚❚ paused' : '○ reconnecting'}
      </span>
    </header>
  );
}

/** A finding's code and severity: all a badge shows. */
export interface BadgeFinding {
  code: string;
  severity: Severity;
}

export function Badge({ f, count }: { f: BadgeFinding; count?: number }) {
  return (
    <span class={`badge ${f.severity}`} title={f.severity} data-code={f.code}>
      {f.code}
      {count !== undefined && count > 1 ? ` ×${count}` : ''}
    </span>
  );
}

/** Findings as badges, each code once with its count. */
export function Badges({ findings }: { findings: readonly BadgeFinding[] }) {
  const byCode = new Map<string, { f: BadgeFinding; n: number }>();
  for (const f of findings) {
    const e = byCode.get(f.code);
    if (e) e.n++;
    else byCode.set(f.code, { f, n: 1 });
  }
  return (
    <span class="badges">
      {[...byCode.values()].map(({ f, n }) => (
        <Badge key={f.code} f={f} count={n} />
      ))}
    </span>
  );
}

/** Copies text to the clipboard; where the page is not a secure context (a plain-HTTP address beyond loopback), selects it instead. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState('');
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(text);
      setDone('copied');
    } catch {
      setDone('select and copy it above');
    }
    setTimeout(() => setDone(''), 2000);
  };
  return (
    <button type="button" class="copy" onClick={copy}>
      {done || label}
    </button>
  );
}

/**
 * Runs `fn` at most once per animation frame however often `schedule` is called: updates from
 * the stream are applied in batches, one render per frame.
 */
export function useFrameScheduler(fn: () => void): () => void {
  const pending = useRef(false);
  const latest = useRef(fn);
  latest.current = fn;
  return useRef(() => {
    if (pending.current) return;
    pending.current = true;
    const run = (): void => {
      pending.current = false;
      latest.current();
    };
    // A hidden tab gets no frames: it catches up once a second instead.
    if (document.hidden) setTimeout(run, 1000);
    else requestAnimationFrame(run);
  }).current;
}
