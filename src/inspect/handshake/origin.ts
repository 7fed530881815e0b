import type { Finding, FindingCodeOf } from '../../session/finding.js';
import { finding } from '../finding.js';
import { originAllowed } from '../../wire/origin-pattern.js';
import type { Handshake } from '../../session/session.js';
import type { InspectContext } from '../types.js';

// Module constants: built once, shared by every session that raises the finding.
const ORIGIN_MISSING_MESSAGE = 'No Origin header: the client is not a browser (a script, a CLI such as wscat, a server-side client).';
const ORIGIN_MISSING_HINT =
  'Nothing to fix for such clients. A backend that requires an Origin rejects them; send one with the client ' +
  "(wscat -o http://localhost:3000, or the ws library's origin option).";

export function inspectOrigin(hs: Handshake, ctx: InspectContext): Finding<FindingCodeOf<'handshake'>>[] {
  const { origins } = hs;
  const out: Finding<FindingCodeOf<'handshake'>>[] = [];
  if (origins.length === 0) {
    out.push(finding('origin-missing', ORIGIN_MISSING_MESSAGE, ORIGIN_MISSING_HINT));
    return out;
  }
  if (origins.length > 1) {
    const identical = origins.every((o) => o === origins[0]);
    const list = origins.map((o) => `"${o}"`).join(', ');
    out.push(
      finding(
        'origin-duplicate',
        `${origins.length} Origin lines (${identical ? 'identical' : 'different'}): ${list}.` +
          (ctx.normalizeOrigin ? ` Normalised: only the first, "${origins[0]}", was forwarded.` : ' Forwarded as sent.'),
        'A proxy or middleware between the browser and the backend adds an Origin header (nginx proxy_set_header Origin, ' +
          'a dev-server proxy, a framework option). Remove the extra one there. Strict servers (Python websockets, uvicorn) ' +
          'answer 400 "more than one Origin header"; others use the first or the last line. ' +
          (ctx.normalizeOrigin ? '' : 'Meanwhile, wstap --normalize-origin forwards only the first line.'),
      ),
    );
  }
  if (ctx.allowOrigins.length > 0) {
    const policy = ctx.allowOrigins.map((p) => p.source).join(', ');
    const accepted = ctx.answer?.response.status === 101;
    for (const origin of new Set(origins)) {
      if (originAllowed(ctx.allowOrigins, origin)) continue;
      out.push(
        accepted
          ? finding(
              'origin-disallowed',
              `The backend accepted the Origin "${origin}", which your expected policy (--allow-origin ${policy}) does not list.`,
              `Not an error of the backend: its allowed origins are wider than your policy. If "${origin}" should not reach it, ` +
                `remove it from the backend's allowed origins (its CORS / WebSocket origin list); if it should, add it to --allow-origin.`,
            )
          : finding(
              'origin-disallowed',
              `Origin "${origin}" matches none of the allowed origins (${policy}).`,
              `Add "${origin}" to the backend's allowed origins (its CORS / WebSocket origin list, e.g. CORS_ORIGINS), ` +
                'or open the frontend at an origin that is already allowed. In Docker, the origin is what the browser shows in ' +
                'its address bar (http://localhost:3000), not the service name.',
            ),
      );
    }
  }
  return out;
}
