/**
 * The words of the upstream and close findings that upstream-close.test.ts leaves out: the
 * hints `wstap check` gives (they speak of the URL, the proxy’s of --target), the TLS codes,
 * the edges of a health answer’s status, and the hint of a 1008 about authentication.
 */
import { describe, expect, it } from 'vitest';
import { inspectClose } from '../../../src/inspect/close.js';
import { inspectHealthAnswer, inspectUpstreamFailure, tlsReason } from '../../../src/inspect/upstream.js';
import { parseTarget } from '../../../src/wire/target.js';

const target = parseTarget('http://backend:8000');
const fail = (code: string, message = 'boom') => ({ code, message });

describe('upstream hints', () => {
  it('a name that does not resolve: the whole hint', () => {
    expect(inspectUpstreamFailure(target, fail('ENOTFOUND')).hint).toBe(
      'A compose service name resolves only inside its compose network. From the host, use localhost and the published port ' +
        '(--target http://localhost:8000); inside compose, run wstap as a service on the same network as "backend" ' +
        'and check the spelling against the service name or its network aliases.',
    );
  });

  it('speaks of --target for the proxy and of the URL for wstap check', () => {
    const both = (code: string, phase?: 'connect' | 'answer') => [
      inspectUpstreamFailure(target, fail(code), phase).hint,
      inspectUpstreamFailure(target, fail(code), phase, 'check').hint,
    ];
    expect(both('ETIMEDOUT', 'connect')).toEqual([
      'Packets are dropped on the way: a firewall, a wrong address or a container that is not on the network. Check the host and port in --target and that the backend container runs.',
      'Packets are dropped on the way: a firewall, a wrong address or a container that is not on the network. Check the host and port in the URL and that the backend container runs.',
    ]);
    expect(both('ENETUNREACH')).toEqual([
      "The address is not routable from where wstap runs: check the host in --target and the container's network.",
      "The address is not routable from where wstap runs: check the host in the URL and the container's network.",
    ]);
    expect(both('ECONNRESET')).toEqual([
      'The backend crashed or dropped the request: look at its logs at this moment. A backend that only speaks TLS closes plain connections this way; then use https:// or wss:// in --target.',
      'The backend crashed or dropped the request: look at its logs at this moment. A backend that only speaks TLS closes plain connections this way; then use wss:// in the URL.',
    ]);
    expect(both('EWHATEVER')).toEqual([
      'Check that the backend runs and that --target names it.',
      'Check that the backend runs and that the URL names it.',
    ]);
  });

  it('takes the SSL, certificate and protocol codes for TLS', () => {
    for (const code of ['ERR_SSL_WRONG_VERSION_NUMBER', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'ERR_TLS_CERT_ALTNAME_INVALID', 'EPROTO'])
      expect(inspectUpstreamFailure(target, fail(code, 'x')).code, code).toBe('upstream-tls');
    expect(inspectUpstreamFailure(target, fail('EPIPE', 'x')).code).not.toBe('upstream-tls');
  });

  it('puts a message on one line without surrounding space', () => {
    expect(tlsReason('  two\n  lines \t')).toBe('two lines');
  });
});

describe('a health answer', () => {
  const health = (status: number) => inspectHealthAnswer('http://b/health', '/health', status, '');
  it('is fine from 200 to 299 only', () => {
    expect(health(200)).toBeUndefined();
    expect(health(299)).toBeUndefined();
    expect(health(300)).toBeDefined();
  });

  it('is a failing backend from 500 on', () => {
    expect(health(500)!.hint).toMatch(/^The backend runs but reports itself unhealthy/);
    expect(health(499)!.hint).toMatch(/^The health path answers, but not with 2xx/);
  });
});

describe('a 1008 about authentication', () => {
  it('gives the whole hint', () => {
    const [f] = inspectClose({ initiator: 'server', code: 1008, reason: 'login required', meaning: 'policy violation', clean: true });
    expect(f!.hint).toBe(
      'Authentication failed: send a valid credential (a token in the query string, a cookie or a subprotocol entry; browsers cannot set ' +
        "Authorization on a WebSocket), refresh an expired token, or for local development enable the backend's auth bypass " +
        '(ALLOW_DEV_AUTH_BYPASS=true, WEBSOCKET_AUTH_BYPASS=true, ENVIRONMENT=development) and restart it.',
    );
  });
});
