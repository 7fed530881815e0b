/**
 * The command line through the real launcher: `node bin/wstap.js ...` as a child
 * process, real sockets on 127.0.0.1, ephemeral ports. Nothing is mocked.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startDemoBackend, type DemoBackend } from '../../src/demo/backend.js';
import { fakeJwt, refusedPort } from '../support/helpers.js';
import { runBin, startBin, stopAll, type Ran, type Started } from '../support/process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PKG = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

type LogLine = Record<string, unknown>;

/** Anything a test started; afterEach stops all of it (and every process started through process-helpers). */
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(() => {
  // `npm test` builds first (pretest); a bare `npx vitest run` may not have.
  if (!existsSync(new URL('../../dist/cli/main.js', import.meta.url))) {
    execFileSync('npx', ['tsc', '-p', '.'], { cwd: ROOT, stdio: 'inherit' });
  }
}, 120_000);

afterEach(async () => {
  stopAll();
  for (const f of cleanups.splice(0).reverse()) await f();
});

type Wstap = Started;

/** The real bin (test/process-helpers.ts); the container detection is off unless a test sets it. */
function startWstap(args: string[], env: Record<string, string> = {}): Wstap {
  return startBin(args, { WSTAP_IN_CONTAINER: 'false', ...env });
}

/**
 * Runs wstap to completion. A process still running after limitMs (say, an invalid option
 * accepted by mistake, so the proxy runs) is killed: the test then fails on its exit status.
 */
function runWstap(args: string[], env: Record<string, string> = {}, limitMs = 4000): Promise<Ran> {
  return runBin(args, { WSTAP_IN_CONTAINER: 'false', ...env }, limitMs);
}

/** A proxy on an ephemeral port with JSON logs; resolves once it listens. */
async function startJsonProxy(args: string[], env: Record<string, string> = {}): Promise<{ w: Wstap; port: number; listening: LogLine }> {
  const w = startWstap(['--port', '0', '--host', '127.0.0.1', '--log-format', 'json', ...args], env);
  const listening = await w.waitForJson((l) => l['event'] === 'listening', 'the listening line');
  const addresses = listening['addresses'] as { address: string; port: number }[];
  return { w, port: addresses[0]!.port, listening };
}

async function demoBackend(): Promise<DemoBackend> {
  const b = await startDemoBackend({ env: {} });
  cleanups.push(() => b.close());
  return b;
}

function openClient(url: string, headers: Record<string, string | string[]>): WebSocket {
  const ws = new WebSocket(url, { headers });
  ws.on('error', () => {});
  cleanups.push(() => ws.terminate());
  return ws;
}

/** Opens a WebSocket and resolves once it is open (rejects on a refused upgrade). */
function connected(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

/** Resolves when the client's connection is closed, however the upgrade went. */
function closed(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve();
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      ws.terminate();
    });
    ws.once('close', () => resolve());
  });
}

const findingCodes = (l: LogLine): string[] => ((l['findings'] as { code: string }[] | undefined) ?? []).map((f) => f.code);

const ALL_CODES = [
  'origin-duplicate',
  'origin-disallowed',
  'origin-missing',
  'auth-missing',
  'auth-expired',
  'handshake-invalid',
  'upgrade-rejected',
  'upgrade-accept-invalid',
  'upstream-refused',
  'upstream-dns',
  'upstream-timeout',
];

const PROXY_OPTIONS = ['--target', '--port', '--host', '--allow-origin', '--normalize-origin', '--log-format', '--log-level', '--shutdown-grace'];
const PROXY_ENV = ['WSTAP_TARGET', 'WSTAP_PORT', 'WSTAP_HOST', 'WSTAP_ALLOW_ORIGINS', 'WSTAP_NORMALIZE_ORIGIN', 'WSTAP_LOG_FORMAT', 'WSTAP_LOG_LEVEL', 'WSTAP_SHUTDOWN_GRACE'];

describe('wstap --help and --version', () => {
  it('proxy --help lists every proxy option and its environment variable', async () => {
    const r = await runWstap(['proxy', '--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    for (const o of PROXY_OPTIONS) expect(r.stdout).toContain(o);
    for (const e of PROXY_ENV) expect(r.stdout).toContain(e);
  });

  it('help proxy prints the same as proxy --help', async () => {
    const a = await runWstap(['help', 'proxy']);
    const b = await runWstap(['proxy', '--help']);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });

  it('--help of the program exits 0 and lists the commands', async () => {
    const r = await runWstap(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    for (const c of ['proxy', 'demo', 'findings']) expect(r.stdout).toMatch(new RegExp(`^\\s+${c}\\b`, 'm'));
  });

  // `wstap --target ...` is the main way to run wstap (proxy is the default command),
  // but `wstap --help` shows only the command list: none of the options a user needs.
  // A known bug (see the report): make this an ordinary it() once cli.ts is fixed.
  it('--help of the program lists the (default) proxy options and their environment variables', async () => {
    const r = await runWstap(['--help']);
    expect(r.code).toBe(0);
    for (const o of PROXY_OPTIONS) expect(r.stdout).toContain(o);
    for (const e of PROXY_ENV) expect(r.stdout).toContain(e);
  });

  it('demo --help lists its options and their environment variables', async () => {
    const r = await runWstap(['demo', '--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    for (const o of ['--port', '--backend-port', '--keep', '--log-format', '--log-level']) expect(r.stdout).toContain(o);
    for (const e of ['WSTAP_PORT', 'WSTAP_LOG_FORMAT', 'WSTAP_LOG_LEVEL']) expect(r.stdout).toContain(e);
  });

  it('findings --help lists --json', async () => {
    const r = await runWstap(['findings', '--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('--json');
  });

  it('--version and -v print the package.json version', async () => {
    for (const flag of ['--version', '-v']) {
      const r = await runWstap([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(PKG.version);
    }
  });
});

describe('bad options: one line on stderr, exit code 2', () => {
  const cases: { name: string; args: string[]; env?: Record<string, string>; mentions: RegExp }[] = [
    { name: 'an unknown option', args: ['--bogus'], mentions: /--bogus/ },
    { name: 'an unknown option of a command', args: ['findings', '--bogus'], mentions: /--bogus/ },
    { name: '--port abc', args: ['--port', 'abc'], mentions: /abc/ },
    { name: '--port 70000', args: ['--port', '70000'], mentions: /70000/ },
    { name: '--port without a value', args: ['--port'], mentions: /port/ },
    { name: '--target ftp://x', args: ['--target', 'ftp://x'], mentions: /ftp/ },
    { name: '--log-format xml', args: ['--log-format', 'xml'], mentions: /xml/ },
    { name: '--log-level loud', args: ['--log-level', 'loud'], mentions: /loud/ },
    { name: '--allow-origin notanorigin', args: ['--allow-origin', 'notanorigin'], mentions: /notanorigin/ },
    { name: '--shutdown-grace soon', args: ['--shutdown-grace', 'soon'], mentions: /soon/ },
    { name: 'demo --port abc', args: ['demo', '--port', 'abc'], mentions: /abc/ },
    { name: 'WSTAP_PORT=abc', args: [], env: { WSTAP_PORT: 'abc' }, mentions: /WSTAP_PORT/ },
    { name: 'WSTAP_TARGET=ftp://x', args: [], env: { WSTAP_TARGET: 'ftp://x' }, mentions: /WSTAP_TARGET/ },
    { name: 'WSTAP_LOG_FORMAT=xml', args: [], env: { WSTAP_LOG_FORMAT: 'xml' }, mentions: /xml/ },
    { name: 'WSTAP_ALLOW_ORIGINS with a bad pattern', args: [], env: { WSTAP_ALLOW_ORIGINS: 'http://localhost:3000,nope' }, mentions: /nope/ },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      // Should the value be accepted by mistake, the proxy must not take a fixed port.
      const r = await runWstap(c.args, { WSTAP_HOST: '127.0.0.1', WSTAP_PORT: '0', ...c.env });
      expect(r.code).toBe(2);
      expect(r.stderr.endsWith('\n')).toBe(true);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(c.mentions);
      expect(r.stdout).toBe('');
    });
  }

  // The proxy action calls envFlag(), which throws commander's InvalidArgumentError; that is a
  // CommanderError, so main() exits 2 through its first branch without printing anything.
  // A known bug (see the report): make this an ordinary it() once cli.ts is fixed.
  it('WSTAP_NORMALIZE_ORIGIN=maybe', async () => {
    const r = await runWstap(['--port', '0', '--host', '127.0.0.1'], { WSTAP_NORMALIZE_ORIGIN: 'maybe' });
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('WSTAP_NORMALIZE_ORIGIN');
  });

  it('WSTAP_NORMALIZE_ORIGIN=maybe exits 2 without starting the proxy', async () => {
    const r = await runWstap(['--port', '0', '--host', '127.0.0.1', '--log-format', 'json'], { WSTAP_NORMALIZE_ORIGIN: 'maybe' });
    expect(r.code).toBe(2);
    expect(r.stdout).not.toContain('listening');
  });
});

describe('port in use', () => {
  it('exits non-zero with one stderr line that names the port', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));
    const port = (blocker.address() as net.AddressInfo).port;
    const r = await runWstap(['--port', String(port), '--host', '127.0.0.1', '--log-format', 'json']);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(String(port));
    expect(r.stderr).toMatch(/in use/);
  });
});

describe('configuration from the environment', () => {
  it('WSTAP_* variables configure the proxy; a disallowed Origin is reported', async () => {
    const backend = await demoBackend();
    const env = startWstap([], {
      WSTAP_TARGET: backend.url,
      WSTAP_PORT: '0',
      WSTAP_HOST: '127.0.0.1',
      WSTAP_ALLOW_ORIGINS: 'http://localhost:3000,http://127.0.0.1:*',
      WSTAP_NORMALIZE_ORIGIN: 'true',
      WSTAP_LOG_FORMAT: 'json',
    });
    const line = await env.waitForJson((l) => l['event'] === 'listening', 'the listening line');
    expect(line).toMatchObject({
      target: backend.url,
      allowOrigins: ['http://localhost:3000', 'http://127.0.0.1:*'],
      normalizeOrigin: true,
    });
    const addresses = line['addresses'] as { address: string; port: number }[];
    expect(addresses).toHaveLength(1);
    expect(addresses[0]!.address).toBe('127.0.0.1');
    expect(addresses[0]!.port).toBeGreaterThan(0);

    const ws = openClient(`ws://127.0.0.1:${addresses[0]!.port}/ws`, { Origin: 'http://evil.test', Authorization: `Bearer ${fakeJwt(600)}` });
    await closed(ws);
    const hs = await env.waitForJson((l) => l['event'] === 'handshake', 'the handshake line');
    expect(findingCodes(hs)).toContain('origin-disallowed');
    expect(hs['origins']).toEqual(['http://evil.test']);
  });
});

describe('JSON log of a real session', () => {
  it('logs the handshake (tunnel, 101, no findings) and the session end; the token never appears', async () => {
    const backend = await demoBackend();
    const { w, port } = await startJsonProxy(['--target', backend.url, '--allow-origin', 'http://localhost:3000']);
    const token = fakeJwt(600);
    const ws = openClient(`ws://127.0.0.1:${port}/ws`, { Origin: 'http://localhost:3000', Authorization: `Bearer ${token}` });
    await connected(ws);
    const reply = new Promise<string>((r) => ws.once('message', (d) => r(d.toString())));
    ws.send('{"hello":1}');
    expect(JSON.parse(await reply)).toMatchObject({ type: 'echo', data: { hello: 1 } });
    ws.close(1000, 'done');
    await closed(ws);

    const hs = await w.waitForJson((l) => l['event'] === 'handshake', 'the handshake line');
    expect(hs).toMatchObject({ event: 'handshake', outcome: 'tunnel', status: 101, findings: [], path: '/ws', origins: ['http://localhost:3000'] });
    const creds = hs['credentials'] as { kind: string; shape: string }[];
    expect(creds).toHaveLength(1);
    expect(creds[0]!.kind).toBe('authorization');
    expect(creds[0]!.shape).toMatch(/JWT/i);
    const end = await w.waitForJson((l) => l['event'] === 'session-end', 'the session-end line');
    expect(end['session']).toBe(hs['session']);
    expect((end['bytes'] as { clientToServer: number }).clientToServer).toBeGreaterThan(0);

    const out = w.stdout();
    expect(out).not.toContain(token);
    for (const part of token.split('.').slice(1)) expect(out).not.toContain(part);
  });

  it('a token in the query string never appears, even at --log-level debug (headers logged)', async () => {
    const backend = await demoBackend();
    const { w, port } = await startJsonProxy(['--target', backend.url, '--log-level', 'debug']);
    const queryToken = fakeJwt(900);
    const headerToken = fakeJwt(1200);
    const a = openClient(`ws://127.0.0.1:${port}/ws?token=${queryToken}&x=1`, { Origin: 'http://localhost:3000' });
    await connected(a);
    a.close();
    await closed(a);
    const b = openClient(`ws://127.0.0.1:${port}/ws`, { Origin: 'http://localhost:3000', Authorization: `Bearer ${headerToken}` });
    await connected(b);
    b.close();
    await closed(b);
    await w.waitForJson((l) => l['event'] === 'session-end' && l['session'] === 'ws-2', 'the second session-end line');

    const handshakes = w.json().filter((l) => l['event'] === 'handshake');
    expect(handshakes).toHaveLength(2);
    expect(handshakes[0]!['path']).toMatch(/^\/ws\?token=\[redacted\]&x=1$/);
    expect(handshakes[0]!['requestHeaders']).toBeDefined();
    const out = w.stdout();
    for (const t of [queryToken, headerToken]) {
      expect(out).not.toContain(t);
      for (const part of t.split('.').slice(1)) expect(out).not.toContain(part);
    }
  });
});

describe('pretty log', () => {
  it('shows origin-duplicate with a fix: line, and no ANSI codes when stdout is not a TTY', async () => {
    const backend = await demoBackend();
    const w = startWstap(['--port', '0', '--host', '127.0.0.1', '--log-format', 'pretty', '--target', backend.url]);
    const m = await w.waitForText(/listening on ws:\/\/127\.0\.0\.1:(\d+)/);
    const port = Number(m[1]);
    const ws = openClient(`ws://127.0.0.1:${port}/ws`, {
      Origin: ['http://localhost:3000', 'http://localhost:3000'],
      Authorization: `Bearer ${fakeJwt(600)}`,
    });
    await closed(ws);
    await w.waitForText(/origin-duplicate[\s\S]*fix:/);
    const out = w.stdout();
    expect(out).toMatch(/^\s+fix: /m);
    expect(out).not.toMatch(/\u001b\[/);
    expect(out.trimStart().startsWith('{')).toBe(false);
  });
});

describe('graceful shutdown', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} with an open session: logs shutdown, closes the client, flushes, exits 0`, async () => {
      const backend = await demoBackend();
      const { w, port } = await startJsonProxy(['--target', backend.url, '--shutdown-grace', '300']);
      const ws = openClient(`ws://127.0.0.1:${port}/ws`, { Origin: 'http://localhost:3000', Authorization: `Bearer ${fakeJwt(600)}` });
      await connected(ws);
      await w.waitForJson((l) => l['event'] === 'handshake', 'the handshake line');
      const clientClosed = closed(ws);
      w.proc.kill(signal);
      await clientClosed;
      const exit = await w.exited;
      expect(exit).toEqual({ code: 0, signal: null });
      const lines = w.json();
      expect(lines.find((l) => l['event'] === 'shutdown')).toMatchObject({ signal });
      // 'stopped' is the last line written; a line still in pino's asynchronous write can land after it.
      expect(lines.slice(-2).map((l) => l['event'])).toContain('stopped');
      expect(lines.findIndex((l) => l['event'] === 'shutdown')).toBeLessThan(lines.findIndex((l) => l['event'] === 'stopped'));
      expect(w.stdout().endsWith('\n')).toBe(true);
    });
  }

  // proxy-server.ts close() aborts the live tunnels and waits one setImmediate "to let the aborted
  // sessions report", but a destroyed socket's 'close' comes in the close-callbacks phase, after
  // the check phase: the sinks are flushed, 'stopped' is written and the process exits before the
  // tunnel's onEnd runs. The open session's end is never logged (nor would it be recorded).
  // A known bug (see the report): make this an ordinary it() once proxy-server.ts is fixed.
  it('SIGTERM with an open session: the aborted session is logged (session-end, how shutdown) before stopped', async () => {
    const backend = await demoBackend();
    const { w, port } = await startJsonProxy(['--target', backend.url, '--shutdown-grace', '300']);
    const ws = openClient(`ws://127.0.0.1:${port}/ws`, { Origin: 'http://localhost:3000', Authorization: `Bearer ${fakeJwt(600)}` });
    await connected(ws);
    const hs = await w.waitForJson((l) => l['event'] === 'handshake', 'the handshake line');
    w.proc.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
    const lines = w.json();
    const end = lines.findIndex((l) => l['event'] === 'session-end');
    expect(end).toBeGreaterThanOrEqual(0);
    expect(lines[end]).toMatchObject({ session: hs['session'], endedBy: 'proxy', how: 'shutdown' });
    expect(end).toBeLessThan(lines.findIndex((l) => l['event'] === 'stopped'));
  });

  it('SIGTERM with no session open exits 0 after the stopped line', async () => {
    const { w, port } = await startJsonProxy(['--target', `http://127.0.0.1:${await refusedPort()}`]);
    // A round trip first: the signal handlers are installed only after the listening line is written.
    await closed(openClient(`ws://127.0.0.1:${port}/ws`, { Origin: 'http://localhost:3000' }));
    await w.waitForJson((l) => l['event'] === 'handshake', 'the handshake line');
    w.proc.kill('SIGTERM');
    expect(await w.exited).toEqual({ code: 0, signal: null });
    const events = w.json().map((l) => l['event']);
    expect(events.slice(-2)).toEqual(['shutdown', 'stopped']);
  });
});

describe('wstap findings', () => {
  it('prints every code', async () => {
    const r = await runWstap(['findings']);
    expect(r.code).toBe(0);
    for (const c of ALL_CODES) expect(r.stdout).toMatch(new RegExp(`^${c}\\s`, 'm'));
  });

  it('--json is valid JSON with every code, a severity and a description', async () => {
    const r = await runWstap(['findings', '--json']);
    expect(r.code).toBe(0);
    const table = JSON.parse(r.stdout) as Record<string, { severity: string; when: string }>;
    for (const c of ALL_CODES) {
      expect(table[c], c).toBeDefined();
      expect(['info', 'warn', 'error']).toContain(table[c]!.severity);
      expect(table[c]!.when.length).toBeGreaterThan(0);
    }
  });
});

describe('wstap demo', () => {
  it('--log-format json: exits 0 and shows every finding of the guide and a healthy tunnel', { timeout: 15_000 }, async () => {
    const r = await runWstap(['demo', '--port', '0', '--log-format', 'json'], {}, 12_000);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as LogLine);
    const handshakes = lines.filter((l) => l['event'] === 'handshake');
    const codes = new Set(handshakes.flatMap(findingCodes));
    for (const c of ['auth-missing', 'auth-expired', 'origin-disallowed', 'origin-duplicate', 'upgrade-rejected', 'upstream-refused', 'upstream-dns']) {
      expect(codes, c).toContain(c);
    }
    expect(handshakes.some((l) => l['outcome'] === 'tunnel')).toBe(true);
    expect(lines.some((l) => l['event'] === 'session-end')).toBe(true);
  });

  it('--log-format pretty: exits 0 and shows fix: lines', { timeout: 15_000 }, async () => {
    const r = await runWstap(['demo', '--port', '0', '--log-format', 'pretty'], {}, 12_000);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\s+fix: /m);
    expect(r.stdout).not.toMatch(/\u001b\[/);
  });
});

interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Sends one request; gives up (rejects) after limitMs so that a request left unanswered fails the test quickly. */
function request(port: number, opts: { method?: string; path: string; body?: 'hold' }, limitMs = 2000): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: opts.path, method: opts.method ?? 'GET', agent: false }, (r) => {
      let body = '';
      r.setEncoding('utf8').on('data', (d: string) => (body += d));
      r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body }));
      r.on('error', reject);
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to ${opts.method ?? 'GET'} ${opts.path} within ${limitMs} ms`));
    }, limitMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    if (opts.body === 'hold') {
      // A body that has started but not finished: the request stream is still open.
      req.setHeader('Content-Type', 'application/json');
      req.write('{"partial":');
    } else {
      req.end();
    }
    cleanups.push(() => void req.destroy());
  });
}

function expect502(res: HttpAnswer, down: number): void {
  expect(res.status).toBe(502);
  expect(res.headers['x-wstap']).toBe('upstream-error');
  expect(res.body).toContain(`127.0.0.1:${down}`);
  expect(res.body).toMatch(/refused/i);
  expect(res.body).toContain('ECONNREFUSED');
}

describe('ordinary HTTP', () => {
  // Regression: http-forward.ts once took req.destroyed for "the client has gone", but on Node 20 a
  // request whose body has been read to the end is auto-destroyed, so a GET never got its 502.
  it('a backend that is down: a GET gets a 502 whose body names the cause, and an http-error log line', async () => {
    const down = await refusedPort();
    const { w, port } = await startJsonProxy(['--target', `http://127.0.0.1:${down}`]);
    const res = await request(port, { path: '/health' });
    expect502(res, down);
    const line = await w.waitForJson((l) => l['event'] === 'http-error', 'the http-error line');
    expect(line).toMatchObject({ method: 'GET', path: '/health', finding: { code: 'upstream-refused' } });
  });

  it('a backend that is down: a request still sending its body gets a 502 that names the cause, and an http-error log line', async () => {
    const down = await refusedPort();
    const { w, port } = await startJsonProxy(['--target', `http://127.0.0.1:${down}`]);
    const res = await request(port, { method: 'POST', path: '/api/items?token=s3cr3t-t0ken-value', body: 'hold' });
    expect502(res, down);
    expect(res.body).not.toContain('s3cr3t-t0ken-value');
    const line = await w.waitForJson((l) => l['event'] === 'http-error', 'the http-error line');
    expect(line).toMatchObject({ method: 'POST', finding: { code: 'upstream-refused', severity: 'error' }, midResponse: false });
    expect(line['path']).toBe('/api/items?token=[redacted]');
    expect(w.stdout()).not.toContain('s3cr3t-t0ken-value');
  });
});
