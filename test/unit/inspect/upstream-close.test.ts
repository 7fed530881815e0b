/**
 * The inspectors of the upstream, close and protocol phases, case by case: which code each
 * failure gets, and the facts and fix a user reads (for the proxy, whose hints speak of
 * --target, and for wstap check, whose hints speak of the URL).
 */
import { describe, expect, it } from 'vitest';
import { inspectClose } from '../../../src/inspect/close.js';
import { inspectViolation } from '../../../src/inspect/protocol.js';
import { inspectHealthAnswer, inspectUpstreamFailure, tlsReason } from '../../../src/inspect/upstream.js';
import type { CloseSummary } from '../../../src/session/summary.js';
import { parseTarget } from '../../../src/wire/target.js';

const target = parseTarget('http://backend:8000');
const fail = (code: string, message = 'boom') => ({ code, message });

describe('upstream', () => {
  it('refused: nothing listens; the fix names the port, the compose mapping and --target (or the URL)', () => {
    const f = inspectUpstreamFailure(target, fail('ECONNREFUSED'));
    expect(f.code).toBe('upstream-refused');
    expect(f.message).toBe('The backend at backend:8000 refused the connection (ECONNREFUSED): nothing listens there.');
    expect(f.hint).toBe(
      'Start the backend (docker compose up -d backend) and check that it listens on port 8000 on an address wstap can reach ' +
        '(0.0.0.0 inside a container, not 127.0.0.1), that the port is published ("8000:8000" in the compose file), ' +
        'and that --target names the right host and port.',
    );
    expect(inspectUpstreamFailure(target, fail('ECONNREFUSED'), 'connect', 'check').hint).toMatch(
      /and that the URL names the right host and port\.$/,
    );
  });

  it.each(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA'])(
    '%s: the name does not resolve; use localhost and the published port, or the network',
    (code) => {
      const f = inspectUpstreamFailure(target, fail(code));
      expect(f.code).toBe('upstream-dns');
      expect(f.message).toBe(`The host name "backend" does not resolve (${code}).`);
      expect(f.hint).toContain('(--target http://localhost:8000)');
      expect(f.hint).toContain('on the same network as "backend"');
      expect(inspectUpstreamFailure(target, fail(code), undefined, 'check').hint).toContain('(ws://localhost:8000/...)');
    },
  );

  it('a timeout connecting and a timeout waiting for the answer are told apart', () => {
    const connect = inspectUpstreamFailure(target, fail('ETIMEDOUT', 'no connection within 5000 ms'), 'connect');
    expect(connect.code).toBe('upstream-timeout');
    expect(connect.message).toBe('No connection to backend:8000 in time (no connection within 5000 ms).');
    expect(connect.hint).toBe(
      'Packets are dropped on the way: a firewall, a wrong address or a container that is not on the network. Check the host and port in --target and that the backend container runs.',
    );
    const answer = inspectUpstreamFailure(target, fail('ESOCKETTIMEDOUT', 'no answer within 5000 ms'), 'answer');
    expect(answer.message).toBe('The backend at backend:8000 accepted the connection but sent no answer in time (no answer within 5000 ms).');
    expect(answer.hint).toMatch(/^The backend is busy or stuck .* Check its logs\. Try the same path with "wstap check"\.$/);
    expect(inspectUpstreamFailure(target, fail('ETIMEDOUT'), 'answer', 'check').hint).toMatch(/Check its logs\.$/);
  });

  it.each(['EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'])('%s: unreachable, a timeout of the network', (code) => {
    const f = inspectUpstreamFailure(target, fail(code));
    expect([f.code, f.message]).toEqual(['upstream-timeout', `backend:8000 is unreachable (${code}).`]);
    expect(f.hint).toBe("The address is not routable from where wstap runs: check the host in --target and the container's network.");
  });

  it('TLS: plain HTTP where TLS was expected, an untrusted certificate, anything else', () => {
    const plain = inspectUpstreamFailure(
      target,
      fail('ERR_SSL_WRONG_VERSION_NUMBER', '80FC:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../ssl/record.c:350:'),
    );
    expect(plain.code).toBe('upstream-tls');
    expect(plain.message).toBe(
      'backend:8000 answered the TLS handshake in plain text (ERR_SSL_WRONG_VERSION_NUMBER: wrong version number): the backend speaks plain HTTP there, not TLS.',
    );
    expect(plain.hint).toBe('Use http:// (or ws://) in --target; or point at the port where the backend serves TLS.');
    const cert = inspectUpstreamFailure(target, fail('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'));
    expect(cert.code).toBe('upstream-tls');
    expect(cert.message).toBe("The backend's certificate at backend:8000 is not trusted (DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate).");
    expect(cert.hint).toMatch(/^For a development backend with a self-signed certificate, add --insecure .* NODE_EXTRA_CA_CERTS=/);
    const other = inspectUpstreamFailure(target, fail('EPROTO', 'handshake\n  failure'), undefined, 'check');
    expect(other.message).toBe('The TLS handshake with backend:8000 failed (EPROTO: handshake failure).');
    expect(other.hint).toBe(
      'For a development backend with a self-signed certificate, add --insecure. If the backend speaks plain HTTP, use ws:// in the URL.',
    );
    expect(tlsReason('no openssl shape here')).toBe('no openssl shape here');
  });

  it.each(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'EUPSTREAMEND', 'ERR_STREAM_PREMATURE_CLOSE'])(
    '%s: reset before the answer; a TLS-only backend named',
    (code) => {
      const f = inspectUpstreamFailure(target, fail(code));
      expect([f.code, f.message]).toEqual(['upstream-reset', `The backend at backend:8000 closed the connection before answering (${code}).`]);
      expect(f.hint).toMatch(/then use https:\/\/ or wss:\/\/ in --target\.$/);
    },
  );

  it('any other code: a reset with the message, and what to check', () => {
    const f = inspectUpstreamFailure(target, fail('EWEIRD', 'strange things'), undefined, 'check');
    expect([f.code, f.message, f.hint]).toEqual([
      'upstream-reset',
      'The connection to backend:8000 failed (EWEIRD: strange things).',
      'Check that the backend runs and that the URL names it.',
    ]);
  });

  it('the health path: 2xx is no finding; 404, 5xx and others each their fix', () => {
    expect(inspectHealthAnswer('http://b/health', '/health', 204, '')).toBeUndefined();
    const missing = inspectHealthAnswer('http://b/health', '/health', 404, 'Not Found')!;
    expect([missing.code, missing.message]).toEqual(['health-failed', 'GET http://b/health answered 404: "Not Found".']);
    expect(missing.hint).toMatch(/^Nothing is served at \/health/);
    expect(inspectHealthAnswer('http://b/health', '/health', 503, '')!.message).toBe('GET http://b/health answered 503.');
    expect(inspectHealthAnswer('http://b/health', '/health', 503, '')!.hint).toMatch(/reports itself unhealthy/);
    expect(inspectHealthAnswer('http://b/health', '/health', 302, '')!.hint).toMatch(/^The health path answers, but not with 2xx/);
    expect(inspectHealthAnswer('http://b/health', '/health', 199, '')).toBeDefined();
  });
});

const close = (over: Partial<CloseSummary>): CloseSummary => ({
  initiator: 'server',
  code: 1000,
  reason: '',
  meaning: 'normal closure',
  clean: true,
  ...over,
});

describe('close', () => {
  it('1000 and 1001 are no finding', () => {
    expect(inspectClose(close({}))).toEqual([]);
    expect(inspectClose(close({ code: 1001 }))).toEqual([]);
  });

  it('1006: abnormal, with the causes in order', () => {
    const [f] = inspectClose(close({ initiator: 'none', code: 1006 }));
    expect([f!.code, f!.message]).toEqual([
      'close-abnormal',
      'The connection ended without a close frame from either side (1006, abnormal closure).',
    ]);
    expect(f!.hint).toMatch(/^Something cut the TCP connection: the backend crashed .* proxy_read_timeout defaults to 60 s/);
  });

  it('1008: the reason decides the hint (authentication, Origin, else the policy in general)', () => {
    const auth = inspectClose(close({ code: 1008, reason: 'Invalid token' }))[0]!;
    expect([auth.code, auth.message]).toEqual(['close-policy', 'The server closed with 1008 (policy violation) "Invalid token".']);
    expect(auth.hint).toMatch(/^Authentication failed: send a valid credential/);
    for (const reason of ['Authentication required', 'unauthorized', 'login first', 'bad credentials']) {
      expect(inspectClose(close({ code: 1008, reason }))[0]!.hint, reason).toMatch(/^Authentication failed/);
    }
    expect(inspectClose(close({ code: 1008, reason: 'Origin not allowed' }))[0]!.hint).toMatch(/^The backend refuses the Origin/);
    expect(inspectClose(close({ code: 1008, reason: 'CORS' }))[0]!.hint).toMatch(/^The backend refuses the Origin/);
    const bare = inspectClose(close({ initiator: 'client', code: 1008 }))[0]!;
    expect(bare.message).toBe('The client closed with 1008 (policy violation).');
    expect(bare.hint).toMatch(/^The backend enforces a policy, usually authentication or Origin/);
  });

  it('the server-side failure codes: close-error, with a hint for 1011, 1009, 1012/1013 and the rest', () => {
    for (const code of [1002, 1003, 1007, 1009, 1010, 1011, 1012, 1013, 1014, 1015]) {
      const [f] = inspectClose(close({ code, meaning: 'm', reason: 'r' }));
      expect([f!.code, f!.message], String(code)).toEqual(['close-error', `The server closed with ${code} (m) "r".`]);
    }
    expect(inspectClose(close({ code: 1011 }))[0]!.hint).toMatch(/^The backend hit an error/);
    expect(inspectClose(close({ code: 1009 }))[0]!.hint).toMatch(/^A message exceeded the receiver's size limit/);
    expect(inspectClose(close({ code: 1012 }))[0]!.hint).toMatch(/^The backend is restarting or overloaded/);
    expect(inspectClose(close({ code: 1013 }))[0]!.hint).toMatch(/^The backend is restarting or overloaded/);
    expect(inspectClose(close({ initiator: 'client', code: 1002 }))[0]!.hint).toBe(
      "The client reported a failure: see the meaning of 1002 and the client's logs.",
    );
    expect(inspectClose(close({ code: 4000 }))).toEqual([]);
    expect(inspectClose(close({ code: 1005 }))).toEqual([]);
  });
});

describe('protocol', () => {
  it('a violation names its side and its rule; in the tunnel, that the bytes went on and decoding stopped', () => {
    const v = { from: 'client' as const, rule: 'unmasked-client-frame' as const, detail: 'an unmasked frame', at: 0 };
    const tunnel = inspectViolation(v, 'tunnel');
    expect([tunnel.code, tunnel.rule, tunnel.message]).toEqual([
      'protocol-error',
      'unmasked-client-frame',
      "The client sent an unmasked frame. wstap forwarded the bytes unchanged and stopped decoding the client's frames.",
    ]);
    expect(tunnel.hint).toMatch(/^A hand-written or buggy client/);
    const check = inspectViolation({ ...v, from: 'server' }, 'check');
    expect(check.message).toBe('The server sent an unmasked frame.');
    expect(check.hint).toMatch(/^A hand-written or buggy server/);
  });
});
