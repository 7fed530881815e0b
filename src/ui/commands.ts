/**
 * Hand-offs from a session: a `wstap replay` command for its recording, and the same handshake
 * as a websocat or wscat command line. The session is redacted, so every secret is a
 * placeholder (<token>, <Authorization>) for the user to fill in; nothing secret is copied.
 */
import type { HandshakeView, HeaderView } from '../views/views.js';

const REDACTED = '[redacted]';

/** Quoted for a POSIX shell. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `[redacted]` made a named placeholder: token=[redacted] → token=<token>, else <name>. */
export function placeholders(value: string, name: string): string {
  return value.replace(/([\w.-]+)=\[redacted\]/g, '$1=<$1>').replaceAll(REDACTED, `<${name}>`);
}

/** Headers a client makes itself for every upgrade: not passed on. */
const OWN = new Set(['host', 'connection', 'upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'content-length']);

function passedHeaders(h: HandshakeView): HeaderView[] {
  return h.requestHeaders.filter((x) => !OWN.has(x.name.toLowerCase())).map((x) => ({ name: x.name, value: placeholders(x.value, x.name) }));
}

/** ws:// (or wss://) and the host the page was loaded from, with the session's path (placeholders for secrets). */
export function wsUrlOf(pageOrigin: string, h: HandshakeView): string {
  return `${pageOrigin.replace(/^http/, 'ws')}${placeholders(h.path, 'secret')}`;
}

export function websocatCommand(pageOrigin: string, h: HandshakeView): string {
  const args = ['websocat'];
  for (const x of passedHeaders(h)) {
    if (x.name.toLowerCase() === 'sec-websocket-protocol') args.push('--protocol', x.value);
    else args.push('-H', `${x.name}: ${x.value}`);
  }
  args.push(wsUrlOf(pageOrigin, h));
  return args.map(shellQuote).join(' ');
}

export function wscatCommand(pageOrigin: string, h: HandshakeView): string {
  const args = ['wscat', '-c', wsUrlOf(pageOrigin, h)];
  for (const x of passedHeaders(h)) {
    const name = x.name.toLowerCase();
    if (name === 'origin') args.push('-o', x.value);
    else if (name === 'sec-websocket-protocol') for (const p of x.value.split(',')) args.push('-s', p.trim());
    else args.push('-H', `${x.name}: ${x.value}`);
  }
  return args.map(shellQuote).join(' ');
}

/** What `wstap replay --secret` needs for each credential the recording redacted. */
function secretArgs(h: HandshakeView): string[] {
  return h.credentials.flatMap((c) => {
    if (c.kind === 'authorization') return ['--secret', `${c.name}=${c.scheme ? `${c.scheme} ` : ''}<${c.name}>`];
    return ['--secret', `${c.name}=<${c.name}>`];
  });
}

/** Fetches the session's recording from this wstap and replays it against the target. */
export function replayCommand(pageOrigin: string, target: string, h: HandshakeView): string {
  const file = `${h.session}.jsonl`;
  const fetchIt = ['curl', '-sSfo', file, `${pageOrigin}/__wstap/api/sessions/${encodeURIComponent(h.session)}.jsonl`];
  const replay = ['npx', 'wstap', 'replay', file, '--target', target.replace(/^http/, 'ws'), ...secretArgs(h)];
  return `${fetchIt.map(shellQuote).join(' ')} && ${replay.map(shellQuote).join(' ')}`;
}
