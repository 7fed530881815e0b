/**
 * Phase answer, for an upgrade the backend refused: why. A diagnosis names only what its
 * evidence supports. When the status or the body names the cause, that cause is the finding;
 * when they do not (a bare 403 is the usual case: Starlette and FastAPI answer an empty 403 to
 * an upgrade on a path with no WebSocket route, and to a websocket.close() before accept), the
 * causes that fit are listed, most likely first, and `wstap check` proves which by probing
 * (check/steps/diagnose.ts, with inspectProbedRejection below).
 */
import { redactTarget } from '../secrets/redact.js';
import type { Finding } from '../session/finding.js';
import type { Handshake, UpstreamAnswer } from '../session/session.js';
import { headerValue } from '../wire/http-head.js';
import { finding } from './finding.js';

/** What can make a backend refuse an upgrade. */
export type RejectionCause = 'origin-duplicate' | 'origin' | 'path' | 'auth' | 'proxy' | 'wstap' | 'version' | 'not-websocket' | 'server-error';

const pathOf = (hs: Handshake): string => redactTarget(hs.request.target).split('?')[0]!;

/** The fix for each cause, in the words of the request at hand. */
function fixFor(cause: RejectionCause, hs: Handshake): string {
  const origin = hs.origins[0];
  switch (cause) {
    case 'origin-duplicate':
      return 'the backend refuses several Origin lines: remove the proxy or middleware that adds the second one, or run wstap with --normalize-origin';
    case 'origin':
      return origin
        ? `the backend refuses the Origin "${origin}": add it to the backend's allowed origins (its CORS / WebSocket origin list)`
        : "the backend requires an Origin header: browsers always send one; give scripts one too (wscat -o, the ws library's origin option)";
    case 'path':
      return `the backend serves no WebSocket at ${pathOf(hs)}: use the path of its WebSocket route in the frontend's URL (e.g. NEXT_PUBLIC_WS_URL=ws://localhost:8001/ws)`;
    case 'auth':
      return hs.credentials.length
        ? 'the backend refuses the credential before accepting: send a valid, unexpired token (query parameter, cookie or subprotocol)'
        : 'the backend checks authentication before accepting and none was sent: pass a token (in the query string, a cookie or a subprotocol entry; browsers cannot set Authorization on a WebSocket)';
    case 'proxy':
      return 'a proxy or gateway in front of the backend refused or could not forward the upgrade: check that it forwards Upgrade and Connection (nginx: proxy_http_version 1.1 and proxy_set_header Upgrade/Connection) and its own access rules';
    case 'wstap':
      return 'this port is a wstap proxy, and wstap could not reach its own target: the body names the cause; run wstap check against the target itself';
    case 'version':
      return 'the backend wants another WebSocket version (see its Sec-WebSocket-Version answer)';
    case 'not-websocket':
      return 'the backend answered as for an ordinary page: this path is not a WebSocket endpoint, or a proxy in front of the backend does not forward upgrades';
    case 'server-error':
      return 'the backend failed while handling the upgrade: look at its logs at this moment';
  }
}

/** The cause the answer itself names, when it names one. */
export function namedCause(hs: Handshake, answer: UpstreamAnswer): RejectionCause | undefined {
  const status = answer.response.status;
  const body = (answer.bodyExcerpt ?? '').toLowerCase();
  if (/more than one origin|multiple.*origin|duplicate.*origin/.test(body) || (status === 400 && hs.origins.length > 1)) return 'origin-duplicate';
  if (/origin|cors/.test(body)) return 'origin';
  if (status === 401 || /auth|token|credential|unauthori[sz]ed|login|jwt|expired|session/.test(body)) return 'auth';
  if (status === 404 || /not found|no route|no such/.test(body)) return 'path';
  if (status === 426) return 'version';
  if ([200, 301, 302, 307, 308].includes(status)) return 'not-websocket';
  if (headerValue(answer.response.headers, 'x-wstap') === 'upstream-error') return 'wstap';
  if (status === 502 || status === 503 || status === 504) return 'proxy';
  if (status >= 500) return 'server-error';
  return undefined;
}

/** The causes that fit a refusal that names none, most likely first. */
export function rejectionCandidates(hs: Handshake): RejectionCause[] {
  const path = pathOf(hs);
  const noCredential = hs.credentials.length === 0 || hs.credentials.some((c) => c.jwt?.expired);
  const order: RejectionCause[] = [];
  // A path with no WebSocket route: Starlette and FastAPI answer such an upgrade with an empty 403.
  if (path === '/' || path === '') order.push('path');
  if (hs.origins.length > 0) order.push('origin');
  if (noCredential) order.push('auth');
  for (const c of ['path', 'origin', 'auth', 'proxy'] as const) if (!order.includes(c)) order.push(c);
  return order;
}

const LABEL: Record<RejectionCause, string> = {
  'origin-duplicate': 'several Origin lines',
  origin: 'the Origin',
  path: 'the path',
  auth: 'authentication checked before accept',
  proxy: 'a proxy in between',
  wstap: 'wstap could not reach its target',
  version: 'the WebSocket version',
  'not-websocket': 'not a WebSocket endpoint',
  'server-error': 'a backend error',
};

export function rejectionFinding(hs: Handshake, answer: UpstreamAnswer): Finding<'upgrade-rejected'> {
  const res = answer.response;
  const body = answer.bodyExcerpt?.trim();
  const message = `The backend answered the upgrade with ${res.status} ${res.reason}${body ? `: "${body.slice(0, 200)}"` : ' and no reason'}.`;
  const named = namedCause(hs, answer);
  if (named) {
    const fix = fixFor(named, hs);
    return finding('upgrade-rejected', message, `${fix[0]!.toUpperCase()}${fix.slice(1)}.`);
  }
  const candidates = rejectionCandidates(hs);
  const list = candidates.map((c, i) => `(${i + 1}) ${LABEL[c]}: ${fixFor(c, hs)}`).join('; ');
  return finding(
    'upgrade-rejected',
    message,
    `The answer does not say why; the causes that fit, most likely first: ${list}. ` +
      'wstap check on the same URL and Origin tells them apart: it retries without the Origin, with another one, on other paths and without the credential.',
  );
}

/** What `wstap check` learnt by probing a refused upgrade: the cause it proved, and how. */
export interface ProbedRejection {
  cause: RejectionCause | undefined;
  /** The probes that proved (or ruled out) each cause, in words. */
  evidence: string[];
  /** With cause 'path': a path that upgrades. */
  workingPath?: string;
}

export function inspectProbedRejection(hs: Handshake, answer: UpstreamAnswer, probed: ProbedRejection): Finding<'upgrade-rejected'> {
  const res = answer.response;
  const evidence = probed.evidence.join('; ');
  if (!probed.cause) {
    return finding(
      'upgrade-rejected',
      `The backend refuses the upgrade with ${res.status} ${res.reason}, and no single change made it upgrade (${evidence}).`,
      'What remains, most likely first: authentication that a plain token does not satisfy (send the credential the frontend sends), ' +
        'an Origin list that allows none of the Origins tried (run wstap check --origins with yours), a WebSocket path not tried, ' +
        "a proxy in front of the backend. Read the backend's logs at this moment.",
    );
  }
  const fix = fixFor(probed.cause, hs);
  const path =
    probed.cause === 'path' && probed.workingPath
      ? ` ${probed.workingPath} upgrades with the same Origin and credential; if ${pathOf(hs)} is meant to be a WebSocket route, it refuses this request before accepting.`
      : '';
  return finding('upgrade-rejected', `Proven by probing: ${LABEL[probed.cause]} (${evidence}).`, `${fix[0]!.toUpperCase()}${fix.slice(1)}.${path}`);
}
