/**
 * The live view's controls: what changes traffic (send, close, fault rules, breakpoints and held
 * messages). They need the control token, which the page never gets from the server: the user
 * opens the link the startup line prints (…/__wstap/#token=…, a fragment the browser never
 * sends) or pastes it. It is kept in this tab's sessionStorage only.
 */
import { useEffect, useState } from 'preact/hooks';
import type { ActionView } from '../views/views.js';
import { API, getJson } from './api.js';
import { bytes, ms } from './format.js';

const KEY = 'wstap-control-token';

/** Takes a token from the address (#token=…) into sessionStorage, and out of the address bar. */
export function adoptTokenFromAddress(): void {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return;
  sessionStorage.setItem(KEY, decodeURIComponent(m[1]!));
  history.replaceState(null, '', location.pathname + location.search);
}

export function useToken(): [string, (t: string) => void] {
  const [token, setToken] = useState(() => sessionStorage.getItem(KEY) ?? '');
  return [
    token,
    (t) => {
      if (t) sessionStorage.setItem(KEY, t);
      else sessionStorage.removeItem(KEY);
      setToken(t);
    },
  ];
}

/** A request that changes traffic; resolves with the answer's JSON, rejects with the API's error text. */
export async function act(token: string, method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(API + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new Error(res.status === 401 ? 'the control token is missing or wrong (see the startup line)' : (json.error ?? `${res.status}`));
  return json;
}

export function TokenBox({ token, setToken }: { token: string; setToken(t: string): void }) {
  const [draft, setDraft] = useState('');
  if (token) {
    return (
      <span class="token" data-testid="token-set">
        controls on{' '}
        <button type="button" class="link" onClick={() => setToken('')}>
          forget token
        </button>
      </span>
    );
  }
  return (
    <form
      class="token"
      onSubmit={(e) => {
        e.preventDefault();
        setToken(draft.trim());
      }}
    >
      <input
        type="password"
        placeholder="control token (startup line)"
        value={draft}
        onInput={(e) => setDraft(e.currentTarget.value)}
        aria-label="control token"
      />
      <button type="submit">use</button>
    </form>
  );
}

/** Send a message into the session, or close it with a code. */
export function ActPanel({ session, open, token }: { session: string; open: boolean; token: string }) {
  const [to, setTo] = useState<'client' | 'server'>('client');
  const [text, setText] = useState('');
  const [binary, setBinary] = useState(false);
  const [closeTo, setCloseTo] = useState<'both' | 'client' | 'server'>('both');
  const [code, setCode] = useState('4000');
  const [reason, setReason] = useState('');
  const [status, setStatus] = useState<{ ok: boolean; text: string }>();
  if (!open) return null;
  const run = (p: Promise<unknown>, done: string): void => {
    p.then(
      () => setStatus({ ok: true, text: done }),
      (err: unknown) => setStatus({ ok: false, text: (err as Error).message }),
    );
  };
  const base = `sessions/${encodeURIComponent(session)}/`;
  return (
    <section class="panel act" data-testid="act">
      <h2>Act on this session</h2>
      {!token && <p class="muted small">Needs the control token (top right).</p>}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          run(act(token, 'POST', `${base}send`, binary ? { to, binary: text } : { to, text }), `sent to the ${to}`);
        }}
      >
        <div class="row-form">
          <select value={to} onChange={(e) => setTo(e.currentTarget.value as 'client' | 'server')} aria-label="send to">
            <option value="client">to the client</option>
            <option value="server">to the server</option>
          </select>
          <label class="check">
            <input type="checkbox" checked={binary} onChange={(e) => setBinary(e.currentTarget.checked)} /> binary (base64)
          </label>
          <button type="submit" disabled={!token} data-testid="send">
            send
          </button>
        </div>
        <textarea
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
          rows={3}
          placeholder="message"
          aria-label="message to send"
          data-testid="send-text"
        />
      </form>
      <form
        class="row-form"
        onSubmit={(e) => {
          e.preventDefault();
          run(act(token, 'POST', `${base}close`, { to: closeTo, code: Number(code), reason }), `closed with ${code}`);
        }}
      >
        <select value={closeTo} onChange={(e) => setCloseTo(e.currentTarget.value as 'both' | 'client' | 'server')} aria-label="close to">
          <option value="both">close both</option>
          <option value="client">close to the client</option>
          <option value="server">close to the server</option>
        </select>
        <input class="code" value={code} onInput={(e) => setCode(e.currentTarget.value)} aria-label="close code" />
        <input value={reason} onInput={(e) => setReason(e.currentTarget.value)} placeholder="reason" aria-label="close reason" />
        <button type="submit" disabled={!token} data-testid="close-session">
          close
        </button>
      </form>
      {status && (
        <p class={status.ok ? 'ok-text' : 'error-text'} data-testid="act-status">
          {status.text}
        </p>
      )}
    </section>
  );
}

interface Held {
  id: number;
  session: string;
  from: string;
  to: string;
  kind: string;
  size: number;
  text?: string;
  base64?: string;
  heldAt: number;
}

/** Messages held at a breakpoint (this session's, or all): forward, edit and forward, or drop. */
export function HeldPanel({ session, token }: { session?: string; token: string }) {
  const [held, setHeld] = useState<Held[]>([]);
  const [edits, setEdits] = useState<Record<number, string>>({});
  const [error, setError] = useState('');
  useEffect(() => {
    let stop = false;
    const poll = (): void => {
      getJson<{ held: Held[] }>('held').then(
        (r) => {
          if (!stop) setHeld(r.held.filter((h) => !session || h.session === session));
        },
        () => {},
      );
    };
    poll();
    const t = setInterval(poll, 500);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, [session]);
  if (!held.length) return null;
  const release = (h: Held, body: unknown): void => {
    act(token, 'POST', `held/${h.id}`, body).then(
      () => setHeld((v) => v.filter((x) => x.id !== h.id)),
      (err: unknown) => setError((err as Error).message),
    );
  };
  return (
    <section class="panel held" data-testid="held">
      <h2>Held at a breakpoint</h2>
      {error && <p class="error-text">{error}</p>}
      {held.map((h) => {
        const original = h.text ?? h.base64 ?? '';
        const edited = edits[h.id];
        return (
          <div key={h.id} class="held-message" data-held={h.id}>
            <div class="muted small">
              #{h.id} {h.session} · {h.kind} to the {h.to} · {bytes(h.size)} · waiting {ms(Date.now() - h.heldAt)}
            </div>
            <textarea
              rows={3}
              value={edited ?? original}
              onInput={(e) => setEdits({ ...edits, [h.id]: e.currentTarget.value })}
              aria-label={`held message ${h.id}`}
            />
            <div class="row-form">
              <button type="button" disabled={!token} onClick={() => release(h, { action: 'forward' })} data-testid="forward">
                forward as it was
              </button>
              <button
                type="button"
                disabled={!token || edited === undefined || edited === original}
                onClick={() => release(h, h.kind === 'text' ? { action: 'forward', text: edited } : { action: 'forward', binary: edited })}
                data-testid="forward-edited"
              >
                forward edited
              </button>
              <button type="button" disabled={!token} onClick={() => release(h, { action: 'drop' })}>
                drop
              </button>
            </div>
          </div>
        );
      })}
      <p class="muted small">The text shown is redacted; "forward as it was" sends the original bytes.</p>
    </section>
  );
}

/** What wstap did to the session. */
export function ActionsPanel({ actions }: { actions: readonly ActionView[] }) {
  if (!actions.length) return null;
  return (
    <section class="panel" data-testid="actions">
      <h2>Altered by wstap</h2>
      {actions.map((a, i) => (
        <div key={i} class="action">
          <span class={`badge ${a.kind === 'send' || a.kind === 'release' ? 'info' : 'warn'}`}>{a.kind}</span>{' '}
          <span class="muted">+{(a.t / 1000).toFixed(3)} s</span> {a.detail} <span class="muted small">({a.by})</span>
        </div>
      ))}
    </section>
  );
}

interface Rule {
  id: number;
  rule: string;
}

/** The fault rules and breakpoints in force: add and remove. */
export function RulesPanel({ token }: { token: string }) {
  const [rules, setRules] = useState<Rule[]>([]);
  const [points, setPoints] = useState<{ id: number; conditions: string }[]>([]);
  const [draft, setDraft] = useState('');
  const [kind, setKind] = useState<'fault' | 'breakpoint'>('fault');
  const [error, setError] = useState('');
  const load = (): void => {
    getJson<{ faults: Rule[] }>('faults').then(
      (r) => setRules(r.faults),
      () => {},
    );
    getJson<{ intercepts: { id: number; conditions: string }[] }>('intercepts').then(
      (r) => setPoints(r.intercepts),
      () => {},
    );
  };
  useEffect(load, []);
  const done = (p: Promise<unknown>): void => {
    p.then(
      () => {
        setError('');
        setDraft('');
        load();
      },
      (err: unknown) => setError((err as Error).message),
    );
  };
  return (
    <section class="rules" data-testid="rules">
      <h2>Fault rules and breakpoints</h2>
      {rules.map((r) => (
        <div key={`f${r.id}`} class="rule" data-rule={r.id}>
          <code>{r.rule}</code>{' '}
          <button type="button" class="link" disabled={!token} onClick={() => done(act(token, 'DELETE', `faults/${r.id}`))}>
            remove
          </button>
        </div>
      ))}
      {points.map((b) => (
        <div key={`b${b.id}`} class="rule" data-breakpoint={b.id}>
          <span class="badge info">breakpoint</span> <code>{b.conditions || '(every message)'}</code>{' '}
          <button type="button" class="link" disabled={!token} onClick={() => done(act(token, 'DELETE', `intercepts/${b.id}`))}>
            remove
          </button>
        </div>
      ))}
      {!rules.length && !points.length && <p class="muted">None: every session is forwarded as it is.</p>}
      <form
        class="row-form"
        onSubmit={(e) => {
          e.preventDefault();
          done(kind === 'fault' ? act(token, 'POST', 'faults', { rule: draft }) : act(token, 'POST', 'intercepts', { conditions: draft }));
        }}
      >
        <select value={kind} onChange={(e) => setKind(e.currentTarget.value as 'fault' | 'breakpoint')} aria-label="rule kind">
          <option value="fault">fault rule</option>
          <option value="breakpoint">breakpoint</option>
        </select>
        <input
          value={draft}
          onInput={(e) => setDraft(e.currentTarget.value)}
          placeholder={kind === 'fault' ? 'delay=300ms to=client match=tick' : 'to=server match=checkout'}
          aria-label="new rule"
          data-testid="new-rule"
        />
        <button type="submit" disabled={!token} data-testid="add-rule">
          add
        </button>
      </form>
      {error && (
        <p class="error-text" data-testid="rule-error">
          {error}
        </p>
      )}
      <p class="muted small">Rules apply to sessions opened afterwards, and to open sessions a rule took at their handshake.</p>
    </section>
  );
}
