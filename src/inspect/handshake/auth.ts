import type { Finding, FindingCodeOf } from '../../session/finding.js';
import { finding } from '../finding.js';
import type { Handshake } from '../../session/session.js';
import type { InspectContext } from '../types.js';

// Module constants: a finding on every session must not build its own copy of these texts
// (an idle proxy holds thousands of sessions).
const AUTH_MISSING_MESSAGE =
  'No credential in the upgrade request: no Authorization header, no token query parameter, no cookie, no token subprotocol.';
const AUTH_MISSING_HINT =
  'Browsers cannot set an Authorization header on a WebSocket: pass the token as a query parameter (token, access_token or the name your backend reads), ' +
  'a cookie set by the backend on the same site, or a subprotocol entry. A backend that requires one closes with 1008 ' +
  '"Authentication required"; for local development only, enable its auth bypass (e.g. ALLOW_DEV_AUTH_BYPASS=true, ' +
  'WEBSOCKET_AUTH_BYPASS=true, ENVIRONMENT=development) and restart it.';

export function inspectAuth(hs: Handshake, ctx: InspectContext): Finding<FindingCodeOf<'handshake'>>[] {
  const out: Finding<FindingCodeOf<'handshake'>>[] = [];
  if (hs.credentials.length === 0) {
    out.push(finding('auth-missing', AUTH_MISSING_MESSAGE, AUTH_MISSING_HINT));
  }
  for (const c of hs.credentials) {
    if (!c.jwt?.expired || c.jwt.exp === undefined) continue;
    const ago = Math.max(0, Math.round((ctx.now - c.jwt.exp * 1000) / 1000));
    const where = c.kind === 'query' ? `query parameter "${c.name}"` : c.kind === 'cookie' ? `cookie "${c.name}"` : c.name;
    out.push(
      finding(
        'auth-expired',
        `The JWT in ${where} expired at ${new Date(c.jwt.exp * 1000).toISOString()} (${formatAgo(ago)} ago).`,
        'The frontend sent a stale token: refresh it before opening the WebSocket (and on reconnect), or log in again. ' +
          'If the clocks of the frontend and backend containers differ, compare them.',
      ),
    );
  }
  return out;
}

function formatAgo(s: number): string {
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}
