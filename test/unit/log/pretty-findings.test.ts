/** The pretty log's findings: the real error first whatever order they were raised in, each on its own lines. */
import { describe, expect, it } from 'vitest';
import { formatFindings, NO_COLORS } from '../../../src/log/pretty.js';
import type { Finding } from '../../../src/session/finding.js';

const f = (code: string, severity: Finding['severity'], message: string): Finding => ({ code, severity, message, hint: `fix ${code}` }) as Finding;

describe('formatFindings', () => {
  it('puts errors first, then warnings, then notes, keeping the raised order within each', () => {
    const out = formatFindings(
      [
        f('origin-missing', 'info', 'no Origin'),
        f('auth-missing', 'warn', 'no credential'),
        f('upgrade-rejected', 'error', '403'),
        f('origin-duplicate', 'warn', 'two'),
      ],
      NO_COLORS,
      '',
    );
    const codes = out
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('  fix:'))
      .map((l) => l.split(' ')[1]);
    expect(codes).toEqual(['upgrade-rejected', 'auth-missing', 'origin-duplicate', 'origin-missing']);
  });

  it('a multi-line message (a TLS error, an HTML body) stays on its line', () => {
    const out = formatFindings(
      [f('upstream-tls', 'error', 'certificate has expired\n    at TLSSocket.onConnectSecure\r\n  (node:_tls_wrap)')],
      NO_COLORS,
      '  ',
    );
    expect(out.split('\n')).toHaveLength(3);
    expect(out).toContain('certificate has expired at TLSSocket.onConnectSecure (node:_tls_wrap)');
  });
});
