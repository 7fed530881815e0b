/** Phase close: what a WebSocket close says about the session. */
import type { Finding, FindingCodeOf } from '../session/finding.js';
import type { CloseSummary } from '../session/summary.js';
import { finding } from './finding.js';

/** Server-side failure codes: close-error. */
const SERVER_ERROR_CODES = new Set([1002, 1003, 1007, 1009, 1010, 1011, 1012, 1013, 1014, 1015]);

const ABNORMAL_MESSAGE = 'The connection ended without a close frame from either side (1006, abnormal closure).';
const ABNORMAL_HINT =
  'Something cut the TCP connection: the backend crashed or was restarted, an idle timeout in a proxy or load balancer ' +
  '(nginx proxy_read_timeout defaults to 60 s: send pings), the client page was killed, or the network dropped. ' +
  'Look at the backend logs at this moment.';

function policyHint(reason: string): string {
  if (/auth|token|credential|login|unauthori[sz]ed/i.test(reason)) {
    return (
      'Authentication failed: send a valid credential (a token in the query string, a cookie or a subprotocol entry; browsers cannot set ' +
      "Authorization on a WebSocket), refresh an expired token, or for local development enable the backend's auth bypass " +
      '(ALLOW_DEV_AUTH_BYPASS=true, WEBSOCKET_AUTH_BYPASS=true, ENVIRONMENT=development) and restart it.'
    );
  }
  if (/origin|cors/i.test(reason)) {
    return "The backend refuses the Origin: add the frontend's exact origin (as in the browser's address bar) to its allowed origins.";
  }
  return 'The backend enforces a policy, usually authentication or Origin: read the reason and the handshake findings above.';
}

function errorHint(c: CloseSummary): string {
  if (c.code === 1011) return 'The backend hit an error while handling this connection: its logs at this moment have the exception.';
  if (c.code === 1009) return "A message exceeded the receiver's size limit: raise the limit (e.g. max_size, maxPayload) or send smaller messages.";
  if (c.code === 1012 || c.code === 1013) return 'The backend is restarting or overloaded: the client should reconnect with a backoff.';
  return `The ${c.initiator} reported a failure: see the meaning of ${c.code} and the ${c.initiator}'s logs.`;
}

export function inspectClose(c: CloseSummary): Finding<FindingCodeOf<'close'>>[] {
  const reason = c.reason ? ` "${c.reason}"` : '';
  if (c.code === 1006) return [finding('close-abnormal', ABNORMAL_MESSAGE, ABNORMAL_HINT)];
  if (c.code === 1008) return [finding('close-policy', `The ${c.initiator} closed with 1008 (policy violation)${reason}.`, policyHint(c.reason))];
  if (SERVER_ERROR_CODES.has(c.code))
    return [finding('close-error', `The ${c.initiator} closed with ${c.code} (${c.meaning})${reason}.`, errorHint(c))];
  return [];
}
