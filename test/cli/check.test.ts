/**
 * `wstap check` through the real launcher against real backends on 127.0.0.1 (the
 * guide's demo backend and raw TCP servers), the environment diagnosis, the container
 * detection, and `--help` of every command. Nothing is mocked: a host name that does
 * not resolve is a name under .invalid.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { diagnoseEnv, parseEnvFile } from '../../src/inspect/environment/env-file.js';
import { startTlsEchoBackend } from '../support/tls-backend.js';
import { ORIGIN_PRESETS, parseOriginList } from '../../src/check/origins.js';
import { parseCheckUrl, runCheck, type CheckResult, type CheckStep } from '../../src/check/run-check.js';
import { detectContainer, isLocalhost, localhostInContainerFinding, type ContainerProbe } from '../../src/inspect/environment/container.js';
import { warnIfLocalhostInContainer } from '../../src/proxy/startup.js';
import { startDemoBackend, type DemoBackend } from '../../src/demo/backend.js';
import { FINDING_CATALOG } from '../../src/session/finding.js';
import { parseTarget } from '../../src/wire/target.js';
import { acceptFor, fakeJwt, refusedPort, startRawBackend, type RawBackend } from '../support/helpers.js';
import { cleanEnv, removeDir, run, stopAll, type Ran } from '../support/process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/wstap.js', import.meta.url));
const BYPASS = { ALLOW_DEV_AUTH_BYPASS: 'true', WEBSOCKET_AUTH_BYPASS: 'true', ENVIRONMENT: 'development' };

const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(() => {
  // `npm test` builds first (pretest); a bare `npx vitest run` may not have.
  if (!existsSync(new URL('../../dist/cli/main.js', import.meta.url))) execFileSync('npx', ['tsc', '-p', '.'], { cwd: ROOT, stdio: 'inherit' });
}, 120_000);

afterEach(async () => {
  stopAll();
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** wstap with the container detection pinned (this test machine may itself be a container). */
function wstap(args: string[], env: Record<string, string> = {}, limitMs = 15_000): Promise<Ran> {
  return run(process.execPath, [BIN, ...args], { cwd: ROOT, env: cleanEnv({ WSTAP_IN_CONTAINER: 'false', ...env }) }, limitMs);
}

/** `wstap check ... --json`, parsed. */
async function checkJson(args: string[], env: Record<string, string> = {}): Promise<{ r: Ran; result: CheckResult }> {
  const r = await wstap(['check', ...args, '--json'], env);
  let result: CheckResult;
  try {
    result = JSON.parse(r.stdout) as CheckResult;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { r, result };
}

function step(result: CheckResult, name: CheckStep['name']): CheckStep {
  const s = result.steps.find((x) => x.name === name);
  if (!s) throw new Error(`no ${name} step in ${JSON.stringify(result.steps.map((x) => x.name))}`);
  return s;
}

const codes = (s: { findings: { code: string }[] }): string[] => s.findings.map((f) => f.code);

async function demoBackend(env: Record<string, string> = {}): Promise<DemoBackend> {
  const b = await startDemoBackend({ env });
  cleanups.push(() => b.close());
  return b;
}

async function rawBackend(onConnection: Parameters<typeof startRawBackend>[0]): Promise<RawBackend> {
  const b = await startRawBackend(onConnection);
  cleanups.push(() => b.close());
  return b;
}

function tempFile(name: string, content: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wstap-check-'));
  cleanups.push(() => removeDir(dir));
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return file;
}

const wsUrl = (port: number, p = '/ws'): string => `ws://127.0.0.1:${port}${p}`;

describe('wstap check against real backends', () => {
  it('a backend that accepts: every step passes, the reply and its latency are reported, exit 0', async () => {
    const b = await demoBackend(BYPASS);
    const { r, result } = await checkJson([wsUrl(b.port), '--origin', 'http://localhost:3000', '--health', '/health', '--send', '{"id":7}', '--linger', '200']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(result).toMatchObject({ ok: true, exitCode: 0, url: wsUrl(b.port) });
    expect(result.steps.map((s) => s.name)).toEqual(['resolve', 'connect', 'health', 'handshake', 'linger', 'send']);
    for (const name of ['resolve', 'connect', 'health', 'linger', 'send'] as const) expect(step(result, name).verdict, name).toBe('ok');
    expect(step(result, 'health').detail).toContain('200');
    // No credential was sent: a warning, not a failure.
    expect(step(result, 'handshake')).toMatchObject({ verdict: 'warn' });
    expect(codes(step(result, 'handshake'))).toEqual(['auth-missing']);
    expect(step(result, 'handshake').detail).toMatch(/^101 Switching Protocols/);
    const send = step(result, 'send');
    expect(send.detail).toContain('"type":"echo"');
    expect(send.detail).toContain('"id":7');
    expect(typeof send.ms).toBe('number');
    for (const s of result.steps) expect(typeof s.ms, s.name).toBe('number');
  });

  it('the same, as text: one line per step with its verdict mark, and a healthy summary', async () => {
    const b = await demoBackend(BYPASS);
    const r = await wstap(['check', wsUrl(b.port), '--origin', 'http://localhost:3000', '-H', `Authorization: Bearer ${fakeJwt(600)}`, '--send', 'hello', '--linger', '100']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wstap check ws:\/\/127\.0\.0\.1:\d+\/ws$/m);
    for (const name of ['resolve', 'connect', 'handshake', 'linger', 'send']) expect(r.stdout).toMatch(new RegExp(`^  ✔ ${name}\\s`, 'm'));
    expect(r.stdout).toMatch(/^  - health\s+skipped: no --health path/m);
    expect(r.stdout).toMatch(/^✔ healthy/m);
    expect(r.stdout).not.toMatch(/\u001b\[/);
  });

  it('a backend that rejects the Origin with 403: upgrade-rejected names the Origin, exit 1', async () => {
    const b = await demoBackend(BYPASS);
    const { r, result } = await checkJson([wsUrl(b.port), '--origin', 'http://frontend:3000']);
    expect(r.code).toBe(1);
    expect(result.ok).toBe(false);
    const hs = step(result, 'handshake');
    expect(hs.verdict).toBe('error');
    expect(hs.detail).toContain('403 Forbidden');
    expect(hs.detail).toContain('Origin not allowed');
    const rejected = hs.findings.find((f) => f.code === 'upgrade-rejected')!;
    expect(rejected.hint).toContain('http://frontend:3000');
    expect(step(result, 'linger').verdict).toBe('skip');
    expect(step(result, 'send').verdict).toBe('skip');
  });

  it('a backend that closes with 1008 right after the open: close-policy with its reason, exit 1', async () => {
    const b = await demoBackend({});
    const { r, result } = await checkJson([wsUrl(b.port), '--origin', 'http://localhost:3000', '--send', 'hello', '--linger', '2000']);
    expect(r.code).toBe(1);
    expect(step(result, 'handshake').verdict).toBe('warn');
    const linger = step(result, 'linger');
    expect(linger.verdict).toBe('error');
    expect(linger.detail).toContain('1008');
    expect(codes(linger)).toEqual(['close-policy']);
    expect(linger.findings[0]!.message).toContain('Authentication required: Use Authorization header');
    expect(linger.findings[0]!.hint).toMatch(/ALLOW_DEV_AUTH_BYPASS/);
    expect(step(result, 'send')).toMatchObject({ verdict: 'skip', detail: 'the connection is closed' });
  });

  it('with the credential in a header the same backend keeps the connection open; the token is never printed', async () => {
    const b = await demoBackend({});
    const token = fakeJwt(600);
    const { r, result } = await checkJson([wsUrl(b.port, `/ws?token=${token}`), '--origin', 'http://localhost:3000', '--linger', '200']);
    expect(r.code).toBe(0);
    expect(step(result, 'linger').verdict).toBe('ok');
    expect(codes(step(result, 'handshake'))).toEqual([]);
    expect(result.url).toContain('token=[redacted]');
    for (const part of token.split('.').slice(1)) expect(r.stdout).not.toContain(part);
  });

  it('a port where nothing listens: upstream-refused with the port-mapping hint; later steps skipped, exit 1', async () => {
    const port = await refusedPort();
    const { r, result } = await checkJson([wsUrl(port), '--health', '/health', '--origins', 'docker-dev']);
    expect(r.code).toBe(1);
    const connect = step(result, 'connect');
    expect(connect.verdict).toBe('error');
    expect(codes(connect)).toEqual(['upstream-refused']);
    expect(connect.findings[0]!.hint).toContain(`"${port}:${port}"`);
    for (const name of ['health', 'handshake', 'linger', 'send', 'origins'] as const) expect(step(result, name).verdict, name).toBe('skip');
  });

  it('a host name that does not resolve: upstream-dns with the service-discovery hint, exit 1', async () => {
    const { r, result } = await checkJson(['ws://wstap-check-backend.invalid:8000/ws', '--origin', 'http://localhost:3000']);
    expect(r.code).toBe(1);
    const resolve = step(result, 'resolve');
    expect(resolve.verdict).toBe('error');
    expect(codes(resolve)).toEqual(['upstream-dns']);
    expect(resolve.findings[0]!.hint).toMatch(/compose service name/);
    expect(step(result, 'connect').verdict).toBe('skip');
    expect(step(result, 'handshake').verdict).toBe('skip');
  });

  it('two Origin lines (the guide\'s issue 4): origin-duplicate and the backend\'s 400, exit 1', async () => {
    const b = await demoBackend(BYPASS);
    const { r, result } = await checkJson([wsUrl(b.port), '--origin', 'http://localhost:3000', '--origin', 'http://localhost:3000']);
    expect(r.code).toBe(1);
    const hs = step(result, 'handshake');
    expect(codes(hs)).toEqual(expect.arrayContaining(['origin-duplicate', 'upgrade-rejected']));
    expect(hs.detail).toContain('more than one Origin header');
  });

  it('--origins docker-dev: probes each preset Origin and lists the accepted ones', async () => {
    const b = await demoBackend(BYPASS);
    const { r, result } = await checkJson([wsUrl(b.port), '--origin', 'http://localhost:3000', '--origins', 'docker-dev', '--linger', '100']);
    expect(r.code).toBe(0);
    expect(result.origins!.map((o) => o.origin)).toEqual(ORIGIN_PRESETS['docker-dev']);
    const accepted = result.origins!.filter((o) => o.verdict === 'accepted').map((o) => o.origin);
    expect(accepted.sort()).toEqual([...b.allowedOrigins].sort());
    for (const o of result.origins!.filter((x) => x.verdict !== 'accepted')) {
      expect(o, o.origin).toMatchObject({ verdict: 'rejected', status: 403 });
    }
    const origins = step(result, 'origins');
    expect(origins.verdict).toBe('warn');
    expect(origins.detail).toMatch(/^2 of 12 accepted/);
  });

  it('--origins as text: a line per Origin, accepted or rejected; none accepted fails the step', async () => {
    const b = await demoBackend(BYPASS);
    const r = await wstap(['check', wsUrl(b.port), '--origins', 'http://evil.test,https://frontend:3000/some/path', '--linger', '50']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^  ✖ origins\s+0 of 2 accepted/m);
    expect(r.stdout).toMatch(/^\s+▲ http:\/\/evil\.test\s+rejected\s+403/m);
    expect(r.stdout).toMatch(/^\s+▲ https:\/\/frontend:3000\s+rejected/m);
  });

  it('an Origin closed with 1008 after the upgrade counts as rejected', async () => {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((res) => wss.once('listening', () => res()));
    cleanups.push(() => new Promise<void>((res) => wss.close(() => res())));
    wss.on('connection', (ws, req) => {
      if (req.headers.origin !== 'http://localhost:3000') ws.close(1008, 'Origin not allowed');
    });
    const port = (wss.address() as net.AddressInfo).port;
    const { result } = await checkJson([wsUrl(port), '--origins', 'http://localhost:3000,http://backend:8000', '--linger', '500']);
    expect(result.origins).toMatchObject([
      { origin: 'http://localhost:3000', verdict: 'accepted' },
      { origin: 'http://backend:8000', verdict: 'rejected', status: 101 },
    ]);
  });

  it('--subprotocol and --header are sent; the chosen subprotocol is reported', async () => {
    const { WebSocketServer } = await import('ws');
    let seen: Record<string, string | string[] | undefined> = {};
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (protocols) => (protocols.has('graphql-ws') ? 'graphql-ws' : false) });
    await new Promise<void>((res) => wss.once('listening', () => res()));
    cleanups.push(() => new Promise<void>((res) => wss.close(() => res())));
    wss.on('connection', (_ws, req) => (seen = req.headers));
    const port = (wss.address() as net.AddressInfo).port;
    const { r, result } = await checkJson([wsUrl(port), '--subprotocol', 'chat,graphql-ws', '-H', 'X-Debug: on', '--linger', '50']);
    expect(r.code).toBe(0);
    expect(step(result, 'handshake').detail).toContain('subprotocol graphql-ws');
    expect(seen['sec-websocket-protocol']).toBe('chat, graphql-ws');
    expect(seen['x-debug']).toBe('on');
  });

  it('a 101 with a wrong Sec-WebSocket-Accept: upgrade-accept-invalid, never used, exit 1', async () => {
    const b = await rawBackend((c) => {
      void c.waitFor((all) => all.includes('\r\n\r\n')).then(() => {
        c.socket.write(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor('not-the-key')}`, '', ''].join('\r\n'));
      }, () => {}); // the connect step's probe connection sends nothing
    });
    const { r, result } = await checkJson([wsUrl(b.port), '--send', 'x']);
    expect(r.code).toBe(1);
    expect(codes(step(result, 'handshake'))).toContain('upgrade-accept-invalid');
    expect(step(result, 'send').verdict).toBe('skip');
  });

  it('a backend that never answers the upgrade: upstream-timeout after --timeout, exit 1', async () => {
    const b = await rawBackend(() => {});
    const { r, result } = await checkJson([wsUrl(b.port), '--timeout', '300']);
    expect(r.code).toBe(1);
    expect(codes(step(result, 'handshake'))).toContain('upstream-timeout');
  });

  it('--send to a server that never replies: a warning, not a failure', async () => {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((res) => wss.once('listening', () => res()));
    cleanups.push(() => new Promise<void>((res) => wss.close(() => res())));
    const port = (wss.address() as net.AddressInfo).port;
    const { r, result } = await checkJson([wsUrl(port), '--send', 'anyone?', '--linger', '50', '--timeout', '300']);
    expect(r.code).toBe(0);
    expect(step(result, 'send')).toMatchObject({ verdict: 'warn' });
    expect(step(result, 'send').detail).toMatch(/no reply/);
  });

  it('a greeting sent on open is reported by linger and not taken for the reply to --send', async () => {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((res) => wss.once('listening', () => res()));
    cleanups.push(() => new Promise<void>((res) => wss.close(() => res())));
    wss.on('connection', (ws) => {
      ws.send('welcome');
      ws.on('message', (d) => ws.send(`re: ${d.toString()}`));
    });
    const port = (wss.address() as net.AddressInfo).port;
    const { r, result } = await checkJson([wsUrl(port), '--send', 'hi', '--linger', '300']);
    expect(r.code).toBe(0);
    expect(step(result, 'linger').detail).toContain('the server sent 1 message: welcome');
    expect(step(result, 'send').detail).toContain('re: hi');
  });

  it('wss:// with a self-signed certificate: upstream-tls without --insecure; with it every step passes, health included', async () => {
    const backend = await startTlsEchoBackend();
    cleanups.push(() => backend.close());
    const port = backend.port;
    const url = `wss://127.0.0.1:${port}/ws`;
    const strict = await checkJson([url, '--health', '/health']);
    expect(strict.r.code).toBe(1);
    expect(codes(step(strict.result, 'connect'))).toEqual(['upstream-tls']);
    const { r, result } = await checkJson([url, '--insecure', '--health', '/health', '--send', 'echo me', '--linger', '50']);
    expect(r.code, r.stdout).toBe(0);
    expect(step(result, 'connect').detail).toMatch(/TLSv1\.[23]/);
    expect(step(result, 'health').verdict).toBe('ok');
    expect(step(result, 'send').detail).toContain('echo me');
  });

  it('--health on a path the backend does not serve: health-failed, and the handshake still runs', async () => {
    const b = await demoBackend(BYPASS);
    const { r, result } = await checkJson([wsUrl(b.port), '--health', '/healthz', '--linger', '50']);
    expect(r.code).toBe(1);
    const health = step(result, 'health');
    expect(health).toMatchObject({ verdict: 'error' });
    expect(codes(health)).toEqual(['health-failed']);
    expect(health.detail).toContain('404');
    expect(step(result, 'handshake').detail).toMatch(/^101/);
  });
});

describe('wstap check: environment', () => {
  it('inside a container with a localhost target: localhost-in-container suggests the service name', async () => {
    const b = await demoBackend(BYPASS);
    const token = fakeJwt(600);
    const { r, result } = await checkJson([`ws://localhost:${b.port}/ws?token=${token}`, '--origin', 'http://localhost:3000', '--linger', '50'], { WSTAP_IN_CONTAINER: 'true' });
    expect(r.code).toBe(0);
    const env = step(result, 'environment');
    expect(env.verdict).toBe('warn');
    expect(codes(env)).toEqual(['localhost-in-container']);
    expect(env.findings[0]!.hint).toContain(`ws://backend:${b.port}/ws.`);
    expect(r.stdout).not.toContain(token);
  });

  it('inside a container with a service-name target: no warning; outside a container: no environment step', async () => {
    const inside = await runCheck({ url: 'ws://wstap-backend.invalid:8000/ws', container: { inContainer: true, evidence: '/.dockerenv' } });
    expect(step(inside, 'environment')).toMatchObject({ verdict: 'ok', findings: [] });
    const b = await demoBackend(BYPASS);
    const outside = await runCheck({ url: wsUrl(b.port), lingerMs: 50, container: { inContainer: false } });
    expect(outside.steps.some((s) => s.name === 'environment')).toBe(false);
  });

  it('--dotenv with the guide\'s mistakes: a service name in the browser URL, mismatched hosts and schemes, a bypass outside development', async () => {
    const b = await demoBackend(BYPASS);
    const file = tempFile(
      '.env.local',
      [
        '# frontend',
        'NEXT_PUBLIC_WS_URL=ws://backend:8000/ws',
        'NEXT_PUBLIC_WEBSOCKET_URL="ws://localhost:8001/ws"',
        'NEXT_PUBLIC_API_URL=https://127.0.0.1:8000',
        'export ALLOW_DEV_AUTH_BYPASS=true',
        'ENVIRONMENT=production # not development',
        '',
      ].join('\n'),
    );
    const { r, result } = await checkJson([wsUrl(b.port), '--dotenv', file, '--linger', '50']);
    expect(r.code).toBe(1);
    const env = step(result, 'env-file');
    expect(env.verdict).toBe('error');
    expect(codes(env)).toEqual(['env-unreachable-url', 'env-inconsistent', 'env-inconsistent', 'env-auth-bypass']);
    expect(env.findings[0]!.message).toContain('"backend"');
    expect(env.findings[0]!.hint).toContain('NEXT_PUBLIC_WS_URL=ws://localhost:8000/ws');
    expect(env.detail).toContain('ENVIRONMENT=production');
    // The endpoint itself is fine.
    expect(step(result, 'linger').verdict).toBe('ok');
  });

  it('--dotenv without a URL checks the frontend\'s NEXT_PUBLIC_WS_URL; a consistent file passes (and so does --env-file, its other name)', async () => {
    const b = await demoBackend(BYPASS);
    const file = tempFile(
      '.env.development.local',
      `NEXT_PUBLIC_WS_URL=ws://localhost:${b.port}/ws\nNEXT_PUBLIC_API_URL=http://localhost:${b.port}\nALLOW_DEV_AUTH_BYPASS=true\nWEBSOCKET_AUTH_BYPASS=true\nENVIRONMENT=development\n`,
    );
    for (const flag of ['--dotenv', '--env-file']) {
      const { r, result } = await checkJson([flag, file, '--origin', 'http://localhost:3000', '--linger', '100']);
      expect(r.code).toBe(0);
      expect(result.url).toBe(`ws://localhost:${b.port}/ws`);
      expect(step(result, 'env-file')).toMatchObject({ verdict: 'ok', findings: [] });
      expect(step(result, 'linger').verdict).toBe('ok');
    }
  });
});

describe('wstap check: usage errors exit 2 with one line on stderr', () => {
  const cases: [string, string[]][] = [
    ['no URL and no --dotenv', ['check']],
    ['a --dotenv file that does not exist (wstap says so; Node does not stop first, as it does for --env-file)', ['check', '--dotenv', '/nonexistent/.env.local']],
    ['a scheme that is not ws, wss, http or https', ['check', 'ftp://localhost:8000/ws']],
    ['not a URL', ['check', 'localhost:8000']],
    ['an unknown --origins preset', ['check', 'ws://localhost:8000/ws', '--origins', 'docker-prod']],
    ['a header without a colon', ['check', 'ws://localhost:8000/ws', '-H', 'Authorization']],
    ['a negative --linger', ['check', 'ws://localhost:8000/ws', '--linger', '-5']],
    ['a health path without a slash', ['check', 'ws://localhost:8000/ws', '--health', 'health']],
    ['an unknown option', ['check', 'ws://localhost:8000/ws', '--orign', 'http://localhost:3000']],
  ];
  for (const [what, args] of cases) {
    it(what, async () => {
      const r = await wstap(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    });
  }

  it('a --dotenv file that sets no WebSocket URL, without a URL', async () => {
    const file = tempFile('.env', 'ENVIRONMENT=development\n');
    const r = await wstap(['check', '--dotenv', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('NEXT_PUBLIC_WS_URL');
  });
});

describe('--help of every command', () => {
  it('wstap --help lists the commands, check among them, and each command\'s --help exits 0 with its usage', { timeout: 90_000 }, async () => {
    const top = await wstap(['--help']);
    expect(top.code).toBe(0);
    const section = top.stdout.split(/^Commands:$/m)[1]!.split(/\n\s*\n/)[0]!;
    const commands = [...section.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    expect(commands).toEqual(expect.arrayContaining(['proxy', 'demo', 'findings', 'check']));
    for (const c of commands) {
      const r = await wstap([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toMatch(new RegExp(`^Usage: wstap ${c}\\b`));
      expect(r.stderr, c).toBe('');
    }
  });

  it('wstap check --help lists every option, the presets and the exit codes', async () => {
    const r = await wstap(['check', '--help']);
    expect(r.code).toBe(0);
    for (const o of ['--origin', '--header', '--subprotocol', '--health', '--linger', '--send', '--origins', '--dotenv', '--timeout', '--insecure', '--json']) {
      expect(r.stdout, o).toContain(o);
    }
    expect(r.stdout).toContain('docker-dev');
    expect(r.stdout).toMatch(/Exit status: 0 .*1 .*2/);
  });
});

describe('the findings table', () => {
  it('wstap findings and the README table list every code of the catalogue, the new ones included', async () => {
    const r = await wstap(['findings']);
    expect(r.code).toBe(0);
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const code of Object.keys(FINDING_CATALOG)) {
      expect(r.stdout, code).toMatch(new RegExp(`^${code}\\s`, 'm'));
      expect(readme, code).toMatch(new RegExp(`^\\| \`${code}\` \\| ${FINDING_CATALOG[code as keyof typeof FINDING_CATALOG].severity} \\|`, 'm'));
    }
  });
});

describe('env file diagnosis (unit)', () => {
  it('parses dotenv syntax: export, quotes, comments, CRLF', () => {
    const vars = parseEnvFile('\uFEFF# c\r\nexport A=1\r\nB="two # words"\nC=\'x\' \nD=plain # comment\nE=\nnot a line\n');
    expect(Object.fromEntries(vars)).toEqual({ A: '1', B: 'two # words', C: 'x', D: 'plain', E: '' });
  });

  it('the guide\'s own checklist is consistent', () => {
    const d = diagnoseEnv(
      new Map([
        ['NEXT_PUBLIC_WEBSOCKET_URL', 'ws://localhost:8000/ws'],
        ['NEXT_PUBLIC_API_URL', 'http://localhost:8000'],
        ['NEXT_PUBLIC_WS_URL', 'ws://localhost:8000'],
        ['ALLOW_DEV_AUTH_BYPASS', 'true'],
        ['WEBSOCKET_AUTH_BYPASS', 'true'],
        ['ENVIRONMENT', 'development'],
      ]),
    );
    expect(d.findings).toEqual([]);
    expect(d.wsUrl).toBe('ws://localhost:8000');
  });

  it('wstap on 8001 and the API on 8000 is the intended setup, not an inconsistency', () => {
    const d = diagnoseEnv(new Map([['NEXT_PUBLIC_WS_URL', 'ws://localhost:8001/ws'], ['NEXT_PUBLIC_API_URL', 'http://localhost:8000']]));
    expect(d.findings).toEqual([]);
  });

  it('flags 0.0.0.0, a URL that is not one, http:// for a WebSocket, two WebSocket variables that disagree', () => {
    const f = (entries: [string, string][]): string[] => diagnoseEnv(new Map(entries)).findings.map((x) => x.code);
    expect(f([['NEXT_PUBLIC_WS_URL', 'ws://0.0.0.0:8000/ws']])).toEqual(['env-unreachable-url']);
    expect(f([['NEXT_PUBLIC_WS_URL', 'localhost:8000']])).toEqual(['env-unreachable-url']);
    expect(f([['NEXT_PUBLIC_API_URL', 'http://api:8000']])).toEqual(['env-unreachable-url']);
    expect(f([['NEXT_PUBLIC_WS_URL', 'http://localhost:8000/ws']])).toEqual(['env-inconsistent']);
    expect(f([['NEXT_PUBLIC_WS_URL', 'ws://localhost:8001/ws'], ['NEXT_PUBLIC_WEBSOCKET_URL', 'ws://localhost:8000/ws']])).toEqual(['env-inconsistent']);
    expect(f([['NEXT_PUBLIC_WS_URL', 'wss://localhost/ws'], ['NEXT_PUBLIC_API_URL', 'http://localhost']])).toEqual(['env-inconsistent']);
    expect(f([['NEXT_PUBLIC_WS_URL', 'ws://app.example.com/ws'], ['NEXT_PUBLIC_API_URL', 'http://app.example.com']])).toEqual([]);
  });

  it('the auth bypass: outside development, without ENVIRONMENT, or half set', () => {
    const f = (entries: [string, string][]): string[] => diagnoseEnv(new Map(entries)).findings.map((x) => x.code);
    expect(f([['WEBSOCKET_AUTH_BYPASS', 'true'], ['ENVIRONMENT', 'staging']])).toEqual(['env-auth-bypass']);
    expect(f([['ALLOW_DEV_AUTH_BYPASS', 'true'], ['WEBSOCKET_AUTH_BYPASS', 'true']])).toEqual(['env-auth-bypass']);
    expect(f([['ALLOW_DEV_AUTH_BYPASS', 'true'], ['ENVIRONMENT', 'development']])).toEqual(['env-auth-bypass']);
    expect(f([['ALLOW_DEV_AUTH_BYPASS', 'false'], ['ENVIRONMENT', 'production']])).toEqual([]);
  });

  it('never shows a URL\'s query (it may carry a token)', () => {
    const d = diagnoseEnv(new Map([['NEXT_PUBLIC_WS_URL', 'ws://backend:8000/ws?token=s3cret']]));
    expect(JSON.stringify(d.variables)).not.toContain('s3cret');
    expect(d.variables['NEXT_PUBLIC_WS_URL']).toBe('ws://backend:8000/ws');
    expect(d.findings.map((x) => `${x.message} ${x.hint}`).join(' ')).not.toContain('s3cret');
  });
});

describe('container detection (unit)', () => {
  const probe = (p: Partial<ContainerProbe> & { files?: Record<string, string> }): ContainerProbe => ({
    env: p.env ?? {},
    exists: (f) => f in (p.files ?? {}),
    read: (f) => p.files?.[f],
  });

  it('reads /.dockerenv, /run/.containerenv, the container variable and /proc/1/cgroup; WSTAP_IN_CONTAINER overrides', () => {
    expect(detectContainer(probe({ files: { '/.dockerenv': '' } }))).toEqual({ inContainer: true, evidence: '/.dockerenv' });
    expect(detectContainer(probe({ files: { '/run/.containerenv': '' } }))).toMatchObject({ inContainer: true });
    expect(detectContainer(probe({ env: { container: 'podman' } }))).toEqual({ inContainer: true, evidence: 'container=podman' });
    expect(detectContainer(probe({ files: { '/proc/1/cgroup': '0::/kubepods/besteffort/pod1/abc\n' } }))).toEqual({ inContainer: true, evidence: '/proc/1/cgroup (kubepods)' });
    expect(detectContainer(probe({ files: { '/proc/1/cgroup': '0::/init.scope\n' } }))).toEqual({ inContainer: false });
    expect(detectContainer(probe({ env: { WSTAP_IN_CONTAINER: 'false' }, files: { '/.dockerenv': '' } }))).toMatchObject({ inContainer: false });
    expect(detectContainer(probe({ env: { WSTAP_IN_CONTAINER: 'true' } }))).toMatchObject({ inContainer: true });
  });

  it('localhost, 127/8, ::1 and 0.0.0.0 are local; service names and other addresses are not', () => {
    for (const h of ['localhost', 'LOCALHOST', 'app.localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]', '0.0.0.0']) expect(isLocalhost(h), h).toBe(true);
    for (const h of ['backend', '172.17.0.1', 'example.com', '::2', 'localhost.example.com']) expect(isLocalhost(h), h).toBe(false);
  });

  it('the proxy warning: logged once at startup as an environment event, with the service name in the hint', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { base: undefined },
      new Writable({
        write(chunk: Buffer, _e, cb) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          cb();
        },
      }),
    );
    const inside = { inContainer: true, evidence: '/.dockerenv' };
    expect(warnIfLocalhostInContainer(logger, parseTarget('http://localhost:8000'), inside)?.code).toBe('localhost-in-container');
    expect(warnIfLocalhostInContainer(logger, parseTarget('http://backend:8000'), inside)).toBeUndefined();
    expect(warnIfLocalhostInContainer(logger, parseTarget('http://127.0.0.1:8000'), { inContainer: false })).toBeUndefined();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, event: 'environment', finding: { code: 'localhost-in-container', severity: 'warn' } });
    expect((lines[0]!['finding'] as { hint: string }).hint).toContain('--target http://backend:8000');
    expect(localhostInContainerFinding(parseTarget('wss://127.0.0.1:9443'), { command: 'check', path: '/socket' }, inside)!.hint).toContain('wss://backend:9443/socket');
  });
});

describe('parsing (unit)', () => {
  it('origin lists: presets expand, origins are normalised, duplicates dropped, bad entries refused', () => {
    expect(parseOriginList('docker-dev')).toHaveLength(12);
    expect(parseOriginList('docker-dev')).toEqual(expect.arrayContaining(['http://localhost:3000', 'http://127.0.0.1:8000', 'http://frontend:3000', 'http://backend:8000', 'http://172.17.0.1:3000', 'http://172.18.0.1:8000']));
    expect(parseOriginList('http://localhost:3000/, http://localhost:3000 ,https://x.test/a?b')).toEqual(['http://localhost:3000', 'https://x.test']);
    expect(parseOriginList('docker-dev,http://netra-frontend:3000')).toHaveLength(13);
    expect(() => parseOriginList('ftp://x')).toThrow(/http/);
    expect(() => parseOriginList('docker')).toThrow(/preset/);
  });

  it('check URLs: ws, wss, http and https; the path and query are kept', () => {
    expect(parseCheckUrl('ws://localhost:8000/ws?x=1')).toMatchObject({ path: '/ws?x=1', href: 'ws://localhost:8000/ws?x=1', target: { host: 'localhost', port: 8000, secure: false } });
    expect(parseCheckUrl('https://api.test')).toMatchObject({ path: '/', href: 'wss://api.test:443/', target: { secure: true, port: 443 } });
    expect(() => parseCheckUrl('ftp://x')).toThrow(/scheme/);
    expect(() => parseCheckUrl('localhost:8000')).toThrow();
  });
});
