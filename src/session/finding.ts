/**
 * Findings: what wstap noticed about a session, with a stable code, a severity,
 * the facts (message) and what to change (hint). The catalogue below is the one
 * table of codes; README.md and `wstap findings` print it.
 */

export type Severity = 'info' | 'warn' | 'error';

export const FINDING_CATALOG = {
  'origin-duplicate': { severity: 'warn', when: 'two or more Origin lines in one upgrade request' },
  'origin-disallowed': { severity: 'error', when: 'the Origin matches no --allow-origin pattern' },
  'origin-missing': { severity: 'info', when: 'no Origin header (a non-browser client)' },
  'auth-missing': {
    severity: 'warn',
    when: 'no credential in Authorization, token query parameters, cookies or Sec-WebSocket-Protocol',
  },
  'auth-expired': { severity: 'warn', when: 'a JWT credential whose exp has passed (decoded, never verified)' },
  'handshake-invalid': {
    severity: 'error',
    when: 'not a valid RFC 6455 upgrade (method, version 13, key, Connection/Upgrade, malformed head)',
  },
  'upgrade-rejected': { severity: 'error', when: 'the backend answered the upgrade with something other than 101' },
  'upgrade-accept-invalid': {
    severity: 'error',
    when: 'a 101 whose Sec-WebSocket-Accept (or Upgrade) is missing or wrong: not tunnelled',
  },
  'upstream-refused': { severity: 'error', when: 'connection refused: backend down or port not mapped' },
  'upstream-dns': { severity: 'error', when: 'the target host name does not resolve: service name or network' },
  'upstream-timeout': { severity: 'error', when: 'no connection, or no answer to the request, in time' },
  'upstream-reset': { severity: 'error', when: 'the backend closed or reset the connection before answering' },
  'upstream-tls': { severity: 'error', when: 'the TLS handshake with an https/wss target failed (certificate, protocol)' },
  'close-policy': { severity: 'warn', when: 'close code 1008 (authentication or Origin policy), with the reason' },
  'close-abnormal': { severity: 'warn', when: 'the connection ended without a close frame (1006)' },
  'close-error': { severity: 'warn', when: '1011 and the other server-side error close codes' },
  'localhost-in-container': { severity: 'warn', when: 'wstap runs in a container and its target is localhost: the container itself' },
  'health-failed': { severity: 'error', when: 'wstap check: the --health path did not answer with a 2xx status' },
  'env-unreachable-url': { severity: 'error', when: 'an env file\'s browser URL (NEXT_PUBLIC_*) names a host a browser on the host cannot reach' },
  'env-inconsistent': { severity: 'warn', when: 'an env file\'s URLs disagree: different hosts, or schemes that do not pair (https with ws://)' },
  'env-auth-bypass': { severity: 'warn', when: 'auth bypass variables set outside ENVIRONMENT=development, or only some of them set' },
  'protocol-error': {
    severity: 'error',
    when: 'a frame that breaks RFC 6455 (bad UTF-8, unmasked client frame, bad RSV bits, oversize or fragmented control frame)',
  },
} as const satisfies Record<string, { severity: Severity; when: string }>;

export type FindingCode = keyof typeof FINDING_CATALOG;

export interface Finding {
  code: FindingCode;
  severity: Severity;
  /** The facts, in one sentence or two. */
  message: string;
  /** What to change. */
  hint: string;
}

export function finding(code: FindingCode, message: string, hint: string): Finding {
  return { code, severity: FINDING_CATALOG[code].severity, message, hint };
}

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warn: 1, error: 2 };

/** The highest severity among findings, or undefined when there are none. */
export function worstSeverity(findings: readonly Finding[]): Severity | undefined {
  let worst: Severity | undefined;
  for (const f of findings) if (worst === undefined || SEVERITY_RANK[f.severity] > SEVERITY_RANK[worst]) worst = f.severity;
  return worst;
}
