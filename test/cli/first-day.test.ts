/**
 * A first day with wstap: typos get a suggestion, a target typed the way people type it is
 * understood or refused with the form that was meant, and a pipe that closes early (| head -1,
 * | grep -q) neither prints a stack trace nor changes the exit status. The real bin.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheck } from '../../src/check/run-check.js';
import { formatFindings, NO_COLORS } from '../../src/log/pretty.js';
import { parseTarget } from '../../src/wire/target.js';
import { refusedPort } from '../support/helpers.js';
import { BIN, cleanEnv, ensureBuilt, runBin } from '../support/process.js';

describe('typos', () => {
  beforeAll(() => ensureBuilt());

  it.each([
    ['chek', "error: unknown command 'chek' (did you mean check?); wstap --help lists the commands"],
    ['repaly', "error: unknown command 'repaly' (did you mean replay?); wstap --help lists the commands"],
    ['xyzzy', "error: unknown command 'xyzzy'; wstap --help lists the commands"],
  ])('wstap %s: an unknown command, exit 2, one line', async (word, line) => {
    const r = await runBin([word]);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd()).toBe(line);
  });

  it('--normalise-origin: the option that was meant, on the same line', async () => {
    const r = await runBin(['--normalise-origin']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd()).toBe("error: unknown option '--normalise-origin' (did you mean --normalize-origin?)");
  });
});

describe('--target as people type it', () => {
  it('a bare port, or :port, is that port on localhost; host:port is http', () => {
    expect(parseTarget('31000').url).toBe('http://localhost:31000');
    expect(parseTarget(':8000').url).toBe('http://localhost:8000');
    expect(parseTarget('backend:8000').url).toBe('http://backend:8000');
  });

  it('a scheme without its colon, or a number for a host, is refused with the meant form', async () => {
    expect(() => parseTarget('http//host:8000')).toThrow('invalid target "http//host:8000": the scheme needs a colon: http://host:8000');
    expect(() => parseTarget('http://31000')).toThrow('"31000" is not a host name; for a port on this machine write http://localhost:31000');
    const r = await runBin(['--target', 'http//host:8000']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the scheme needs a colon: http:\/\/host:8000/);
  });
});

describe('a pipe that closes early', () => {
  let server: http.Server;
  let url: string;
  beforeAll(async () => {
    server = http.createServer((_q, res) => res.writeHead(403).end());
    server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it.each([
    ['| head -1', 'head -1'],
    ['| grep -q', 'grep -q "wstap check"'],
  ])("wstap check %s: no stack trace, and the status is still the check's (1)", async (_name, reader) => {
    // Asynchronously: the backend lives in this process and must answer while the pipe runs.
    const script = `node ${BIN} check ${url} --linger 100 | ${reader}; echo "status=\${PIPESTATUS[0]}"`;
    const r = await promisify(execFile)('bash', ['-c', script], {
      env: cleanEnv({ WSTAP_IN_CONTAINER: 'false' }),
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.stdout).toMatch(/status=1/);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/Error|at .*\(node:|EPIPE/);
  });
});

describe('hints in the words of the command', () => {
  it('wstap check speaks of the URL it was given, never of --target', async () => {
    const r = await runCheck({ url: `ws://127.0.0.1:${await refusedPort()}/ws`, container: { inContainer: false }, lingerMs: 50, timeoutMs: 2000 });
    const f = r.findings.find((x) => x.code === 'upstream-refused')!;
    expect(f.hint).toMatch(/the URL names the right host and port/);
    expect(r.findings.map((x) => x.hint).join(' ')).not.toContain('--target');
  });

  it('a message with line breaks (a TLS error, a body) stays on its line of the pretty layout', () => {
    const out = formatFindings(
      [{ code: 'upstream-tls', severity: 'error', message: 'The TLS handshake failed (EPROTO: a\n  b\r\nc).', hint: 'one\ntwo' }],
      NO_COLORS,
    );
    expect(out.split('\n').filter(Boolean)).toEqual(['    ✖ upstream-tls  The TLS handshake failed (EPROTO: a b c).', '      fix: one two']);
  });
});
