/**
 * The one redaction step for text that quotes the wire: a close reason, a rejection body, an
 * error or a finding that cites a request line, a header wstap does not know by name, a status
 * line's reason. Named fields are redacted where they are made (redact.ts); this step is for
 * everything else, and every string that leaves wstap passes it: the views every sink gets,
 * the proxy's own log lines, `check`, `report` and the HAR export.
 *
 * What it replaces, wherever it appears:
 * - the query values of a quoted request line ("GET /ws?room=1&token=… HTTP/1.1"): all of them;
 * - URL parameters with a credential's name (?token=, &api_key=, ;jsessionid=);
 * - name=value pairs with a credential's name (token=…, session=…, password=…);
 * - the credential after an auth scheme (Bearer …, Basic …);
 * - JSON fields with a secret-looking name ("token": "…") and JWTs anywhere (redact.ts).
 * It is idempotent: redacted text passes through unchanged.
 */
import { TOKEN_PARAM } from './credentials.js';
import { REDACTED, redactPayloadText } from './redact.js';
import { queryName } from '../wire/query.js';

/** A request line ("GET /path?query") quoted in text: its query values are all dropped (any of them may carry a secret). */
const REQUEST_LINE = /\b([A-Z]{3,10}) ((?:\/|\*|https?:\/\/|wss?:\/\/)[^\s?"']*)\?([^\s"']*)/g;
/** A URL parameter: ?name=value, &name=value, ;name=value. */
const URL_PARAM = /([?&;])([^=&\s"'<>#;?]{1,64})=(\[redacted\]|[^&\s"'<>#;),\]]*)/g;
/** A name=value pair at the start of a word. */
const NAMED_PAIR = /(^|[\s,(["'])([A-Za-z][\w.-]{0,63})=(\[redacted\]|[^\s&;,"')\]]+)/g;
/** An auth scheme and its credential (at least 8 token characters: "Bearer realm" and "Basic error" stay). */
const AUTH_SCHEME = /\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/-]{8,}=*/gi;

const dropValues = (query: string): string =>
  query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq < 0 ? pair : `${pair.slice(0, eq)}=${REDACTED}`;
    })
    .join('&');

/** Text with every secret this module recognises replaced by "[redacted]". */
export function redactText(text: string): string {
  if (text.length < 8) return text;
  let out = text;
  if (out.includes('?'))
    out = out.replace(REQUEST_LINE, (_all, method: string, path: string, query: string) => `${method} ${path}?${dropValues(query)}`);
  // A path parameter (/p;jsessionid=...) needs no query to be a credential.
  if (out.includes('?') || out.includes(';')) {
    out = out.replace(URL_PARAM, (all, sep: string, name: string, value: string) =>
      value !== REDACTED && TOKEN_PARAM.test(queryName(name)) ? `${sep}${name}=${REDACTED}` : all,
    );
  }
  if (out.includes('=')) {
    out = out.replace(NAMED_PAIR, (all, before: string, name: string, value: string) =>
      value !== REDACTED && TOKEN_PARAM.test(name) ? `${before}${name}=${REDACTED}` : all,
    );
  }
  out = redactPayloadText(out.replace(AUTH_SCHEME, (_all, scheme: string, space: string) => `${scheme}${space}${REDACTED}`));
  // A replace with a callback copies the text even when nothing changed: the original is kept,
  // so a finding's hint (a module constant) stays one string however many sessions hold it.
  return out === text ? text : out;
}

/**
 * A copy of a value with redactText applied to every string in it (object keys stay), for the
 * structured things that leave wstap: a view, a log line's fields, a check result, a report.
 * Buffers and class instances other than plain objects and arrays are left as they are.
 */
export function redactDeep<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return redactText(value) as T;
  if (value === null || typeof value !== 'object') return value;
  // Deeper than any view wstap makes: not walked, and not let out unredacted either.
  if (depth > 32) return REDACTED as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1)) as T;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, depth + 1);
  return out as T;
}
