/**
 * The Dockerfile, followed outside Docker (there is no Docker engine on these machines):
 * its instructions are read from the file and carried out in a temporary copy of the
 * repository — COPY from the build context (minus .dockerignore) or from an earlier
 * stage, RUN (npm ci, build, prune to production dependencies), ENV, WORKDIR — and the
 * image's ENTRYPOINT + CMD is started with the image's environment. Then wstap's health
 * endpoint must answer, the HEALTHCHECK command must pass, a WebSocket must pass through,
 * and SIGTERM must stop it cleanly. Also: the compose example, read the same way.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { diagnoseEnv } from '../../src/inspect/environment/env-file.js';
import { startDemoBackend, type DemoBackend } from '../../src/demo/backend.js';
import { fakeJwt, refusedPort } from '../support/helpers.js';
import { launchChromium, serveFile } from '../support/peers/chromium.js';
import { cleanEnv, removeDir, run, start, stopAll, type Started } from '../support/process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BYPASS = { ALLOW_DEV_AUTH_BYPASS: 'true', WEBSOCKET_AUTH_BYPASS: 'true', ENVIRONMENT: 'development' };

// ---------------------------------------------------------------------------------------
// A small reader of Dockerfiles: enough for the instructions wstap's Dockerfile uses, and
// loud about anything else, so that a change to the Dockerfile cannot pass unnoticed.

interface Instruction {
  op: string;
  args: string;
  line: number;
}

interface Stage {
  index: number;
  name?: string;
  from: string;
  instructions: Instruction[];
}

function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) line = line.replace(/\\\s*$/, ' ') + lines[++i]!.trim();
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile line ${start}: cannot read ${JSON.stringify(line)}`);
    const op = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!f) throw new Error(`Dockerfile line ${start}: FROM ${args}`);
      stages.push({ index: stages.length, from: f[1]!, ...(f[2] ? { name: f[2] } : {}), instructions: [] });
      continue;
    }
    if (!stages.length) throw new Error(`Dockerfile line ${start}: ${op} before FROM`);
    stages.at(-1)!.instructions.push({ op, args, line: start });
  }
  return stages;
}

/** ENV KEY=VALUE KEY2="VALUE 2" (and the old ENV KEY VALUE form). */
function parseEnv(args: string): Record<string, string> {
  if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(args)) {
    const sp = args.indexOf(' ');
    return { [args.slice(0, sp)]: args.slice(sp + 1).trim() };
  }
  const out: Record<string, string> = {};
  for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g)) {
    const v = m[2]!;
    out[m[1]!] = v.startsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v.startsWith("'") ? v.slice(1, -1) : v;
  }
  return out;
}

/** The exec form ["a", "b"]; the shell form is refused (signals would not reach node). */
function execForm(args: string, what: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) throw new Error(`${what} is not in exec form: ${args}`);
  return parsed as string[];
}

/** .dockerignore patterns matched against paths relative to the context: names, a/b, *.ext. */
function dockerignore(root: string): (rel: string) => boolean {
  const file = path.join(root, '.dockerignore');
  const patterns = existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'))
    : [];
  const res = patterns.map(
    (p) =>
      new RegExp(
        `^${p
          .replace(/^\//, '')
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '[^/]*')}(/.*)?$`,
      ),
  );
  return (rel) => res.some((re) => re.test(rel));
}

interface Built {
  /** Per stage: the directory standing for its file system root. */
  roots: string[];
  /** The last stage's ENV, WORKDIR, USER, EXPOSE, HEALTHCHECK, ENTRYPOINT and CMD. */
  env: Record<string, string>;
  workdir: string;
  user?: string;
  expose: string[];
  healthcheck?: string[];
  entrypoint: string[];
  cmd: string[];
  /** What happened, step by step (for a failure message). */
  log: string[];
}

/** Carries out the Dockerfile in tmp; commands of RUN run in the stage's WORKDIR under tmp. */
async function build(stages: Stage[], context: string, tmp: string): Promise<Built> {
  const ignored = dockerignore(context);
  const roots: string[] = [];
  const log: string[] = [];
  let final: Built | undefined;
  for (const stage of stages) {
    const root = path.join(tmp, `stage-${stage.index}`);
    mkdirSync(root, { recursive: true });
    roots.push(root);
    const inside = (p: string, workdir: string): string => path.join(root, path.posix.resolve(workdir, p));
    const b: Built = { roots, env: {}, workdir: '/', expose: [], entrypoint: [], cmd: [], log };
    for (const ins of stage.instructions) {
      const where = `Dockerfile line ${ins.line}: ${ins.op} ${ins.args}`;
      log.push(where);
      switch (ins.op) {
        case 'WORKDIR':
          b.workdir = path.posix.resolve(b.workdir, ins.args);
          mkdirSync(inside('.', b.workdir), { recursive: true });
          break;
        case 'ENV':
          Object.assign(b.env, parseEnv(ins.args));
          break;
        case 'COPY': {
          const words = ins.args.split(/\s+/);
          let fromStage: number | undefined;
          while (words[0]?.startsWith('--')) {
            const flag = words.shift()!;
            const from = /^--from=(.+)$/.exec(flag);
            if (from) {
              const s = stages.find((x) => x.name === from[1] || String(x.index) === from[1]);
              if (!s || s.index >= stage.index) throw new Error(`${where}: unknown stage ${from[1]}`);
              fromStage = s.index;
            } else if (!/^--chown=/.test(flag)) throw new Error(`${where}: unsupported flag ${flag}`);
          }
          const dest = words.pop()!;
          if (words.length === 0) throw new Error(`${where}: nothing to copy`);
          const destPath = inside(dest, b.workdir);
          for (const src of words) {
            let from: string;
            let filter: ((s: string) => boolean) | undefined;
            if (fromStage === undefined) {
              if (path.isAbsolute(src) || src.includes('..')) throw new Error(`${where}: ${src} is outside the build context`);
              from = path.join(context, src);
              filter = (s) => !ignored(path.relative(context, s).split(path.sep).join('/'));
              if (!filter(from)) throw new Error(`${where}: ${src} is excluded by .dockerignore`);
            } else {
              from = path.join(roots[fromStage]!, src);
            }
            if (!existsSync(from)) throw new Error(`${where}: ${src} does not exist`);
            const toDir = dest.endsWith('/') || words.length > 1;
            const to = toDir ? path.join(destPath, path.basename(src)) : destPath;
            mkdirSync(path.dirname(to), { recursive: true });
            cpSync(from, to, { recursive: true, ...(filter ? { filter } : {}), verbatimSymlinks: true });
          }
          break;
        }
        case 'RUN': {
          const isFinal = stage.index === stages.length - 1;
          if (isFinal) {
            // The image's own set-up (directories and owners) has no meaning outside it: only
            // mkdir and chown are allowed there, and mkdir is done under the stage's root.
            for (const part of ins.args.split('&&').map((s) => s.trim())) {
              const mk = /^mkdir\s+-p\s+(.+)$/.exec(part);
              if (mk) for (const d of mk[1]!.split(/\s+/)) mkdirSync(inside(d, b.workdir), { recursive: true });
              else if (!/^chown\s+\S+\s+.+$/.test(part))
                throw new Error(`${where}: this test does not know how to follow "${part}" in the final stage`);
            }
            break;
          }
          const r = await run('sh', ['-c', ins.args], { cwd: inside('.', b.workdir), env: cleanEnv({ ...b.env, CI: 'true' }) }, 240_000);
          log.push(`  exit ${r.code}`);
          if (r.code !== 0) throw new Error(`${where} failed (exit ${r.code}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
          break;
        }
        case 'USER':
          b.user = ins.args;
          break;
        case 'EXPOSE':
          b.expose.push(...ins.args.split(/\s+/));
          break;
        case 'HEALTHCHECK': {
          const m = /^(?:--\S+\s+)*CMD\s+(\[.*\])$/.exec(ins.args);
          if (!m) throw new Error(`${where}: expected HEALTHCHECK [options] CMD [exec form]`);
          b.healthcheck = execForm(m[1]!, 'HEALTHCHECK CMD');
          break;
        }
        case 'ENTRYPOINT':
          b.entrypoint = execForm(ins.args, 'ENTRYPOINT');
          break;
        case 'CMD':
          b.cmd = execForm(ins.args, 'CMD');
          break;
        case 'LABEL':
        case 'ARG':
        case 'STOPSIGNAL':
          break;
        default:
          throw new Error(`${where}: this test does not know how to follow ${ins.op}`);
      }
    }
    final = b;
  }
  return final!;
}

/** "node" in the image is the node running the tests. */
const program = (argv: string[]): [string, string[]] => [argv[0] === 'node' ? process.execPath : argv[0]!, argv.slice(1)];

// ---------------------------------------------------------------------------------------

function get(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** Opens a WebSocket, sends one message, resolves with the reply. */
function roundTrip(url: string, headers: Record<string, string>, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => ws.send(message));
    ws.once('message', (d) => {
      resolve(d.toString());
      ws.close(1000, 'done');
    });
    ws.once('unexpected-response', (_q, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
    ws.once('close', (code, reason) => reject(new Error(`closed ${code} ${reason.toString()} before a reply`)));
  });
}

let tmp: string | undefined;
let image: Built | undefined;
let buildError: Error | undefined;
let backend: DemoBackend | undefined;

beforeAll(async () => {
  backend = await startDemoBackend({ env: BYPASS });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'wstap-docker-'));
  try {
    image = await build(parseDockerfile(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')), ROOT, tmp);
  } catch (err) {
    buildError = err as Error;
  }
}, 300_000);

afterEach(() => stopAll());

afterAll(async () => {
  stopAll();
  await backend?.close();
  removeDir(tmp);
});

function built(): Built {
  if (buildError) throw buildError;
  return image!;
}

const finalApp = (): string => path.join(built().roots.at(-1)!, built().workdir);

/** The image's ENTRYPOINT + CMD (+ args) with the image's environment, then `over`. */
function startImage(over: Record<string, string>, args?: string[]): Started {
  const b = built();
  const [cmd, rest] = program([...b.entrypoint, ...(args ?? b.cmd)]);
  return start(cmd, rest, { cwd: finalApp(), env: cleanEnv({ ...b.env, WSTAP_IN_CONTAINER: 'false', ...over }) });
}

/** The port wstap chose (WSTAP_PORT=0), from its listening line. */
const listenPort = (listening: Record<string, unknown>): number => (listening['addresses'] as { port: number }[])[0]!.port;

describe('the Dockerfile, step by step outside Docker', () => {
  it('builds: npm ci, the TypeScript build and the prune leave production dependencies only', () => {
    const b = built();
    const app = finalApp();
    for (const f of [
      'package.json',
      'bin/wstap.js',
      'dist/cli/main.js',
      'node_modules/ws',
      'node_modules/commander',
      'node_modules/undici',
      'node_modules/pino',
    ]) {
      expect(existsSync(path.join(app, f)), f).toBe(true);
    }
    // (@types/node stays: mqtt-packet's bl depends on @types/readable-stream, which depends on it.)
    for (const dev of ['typescript', 'vitest', 'playwright-core', 'esbuild', '@biomejs/biome', 'socket.io', 'graphql'])
      expect(existsSync(path.join(app, 'node_modules', dev)), dev).toBe(false);
    // Nothing of the source tree or the tests in the image.
    expect(readdirSync(app).sort()).toEqual(['bin', 'dist', 'node_modules', 'package.json']);
    expect(statSync(path.join(app, 'dist')).isDirectory()).toBe(true);
    expect(b.log.join('\n')).toMatch(/npm ci/);
  });

  it('declares what a compose setup relies on: 0.0.0.0, port 8001 exposed, JSON logs, non-root, exec-form entrypoint, a healthcheck', () => {
    const b = built();
    expect(b.env).toMatchObject({ WSTAP_HOST: '0.0.0.0', WSTAP_PORT: '8001', WSTAP_LOG_FORMAT: 'json', NODE_ENV: 'production' });
    expect(b.env['WSTAP_TARGET']).toMatch(/^http:\/\/backend:\d+$/);
    expect(b.expose).toContain(b.env['WSTAP_PORT']);
    expect(b.user).toBeDefined();
    expect(b.user).not.toMatch(/^(root|0)$/);
    expect(b.entrypoint[0]).toBe('node');
    expect(b.healthcheck?.join(' ')).toContain('/__wstap/health');
  });

  it('runs: the health endpoint answers, the HEALTHCHECK passes, a WebSocket passes through, check works, SIGTERM exits 0', {
    timeout: 60_000,
  }, async () => {
    const b = built();
    // The image's environment, but on 127.0.0.1, a port of its own choosing and the test's backend.
    const over = { WSTAP_HOST: '127.0.0.1', WSTAP_PORT: '0', WSTAP_TARGET: backend!.url };
    const w = startImage(over);
    const listening = await w.waitForJson((l) => l['event'] === 'listening', 'the listening line');
    const port = listenPort(listening);
    expect(listening['target']).toBe(backend!.url);

    const health = await get(port, '/__wstap/health');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', target: { url: backend!.url, reachable: true } });

    const [hcCmd, hcArgs] = program(b.healthcheck!);
    const hc = await run(hcCmd, hcArgs, { cwd: finalApp(), env: cleanEnv({ ...b.env, ...over, WSTAP_PORT: String(port) }) });
    expect(hc.code, hc.stderr).toBe(0);

    const reply = await roundTrip(
      `ws://127.0.0.1:${port}/ws`,
      { Origin: 'http://localhost:3000', Authorization: `Bearer ${fakeJwt(600)}` },
      '{"id":1}',
    );
    expect(JSON.parse(reply)).toMatchObject({ type: 'echo', data: { id: 1 } });
    const hs = await w.waitForJson((l) => l['event'] === 'handshake', 'the handshake line');
    expect(hs).toMatchObject({ outcome: 'tunnel', status: 101, findings: [] });

    // `docker run wstap check ...`: the same entrypoint with other arguments.
    const check = await run(
      ...program([...b.entrypoint, 'check', `ws://127.0.0.1:${port}/ws`, '--origin', 'http://localhost:3000', '--linger', '100', '--json']),
      {
        cwd: finalApp(),
        env: cleanEnv({ ...b.env, WSTAP_IN_CONTAINER: 'false' }),
      },
    );
    expect(check.code, check.stdout + check.stderr).toBe(0);

    w.proc.kill('SIGTERM');
    expect(await w.exited).toEqual({ code: 0, signal: null });
    // 'stopped' is the last line written; a line still in pino's asynchronous write can land after it.
    expect(
      w
        .json()
        .slice(-2)
        .map((l) => l['event']),
    ).toContain('stopped');
    expect(w.stderr()).toBe('');
  });

  it('a backend that is down: the health endpoint still answers 200 (wstap is up) and says the target is unreachable; the HEALTHCHECK passes', async () => {
    const b = built();
    const down = await refusedPort();
    const over = { WSTAP_HOST: '127.0.0.1', WSTAP_PORT: '0', WSTAP_TARGET: `http://127.0.0.1:${down}` };
    const w = startImage(over);
    const port = listenPort(await w.waitForJson((l) => l['event'] === 'listening', 'the listening line'));
    const health = await get(port, '/__wstap/health');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', target: { reachable: false, error: 'ECONNREFUSED' } });
    const [hcCmd, hcArgs] = program(b.healthcheck!);
    expect((await run(hcCmd, hcArgs, { cwd: finalApp(), env: cleanEnv({ ...b.env, ...over, WSTAP_PORT: String(port) }) })).code).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------
// examples/docker-compose.dev.yml, read with a few patterns (no YAML parser in the
// dependencies): its services, their environment lists, ports, volumes and networks.

interface ComposeService {
  /** Keys written on one line (build: .., image: ..., command: [...]), with their values. */
  values: Record<string, string>;
  environment: Record<string, string>;
  ports: string[];
  volumes: string[];
  networks: string[];
  keys: string[];
}

function readCompose(text: string): { services: Record<string, ComposeService>; topLevel: string[]; volumes: string[]; networks: string[] } {
  const services: Record<string, ComposeService> = {};
  const topLevel: string[] = [];
  const topSections: Record<string, string[]> = {};
  let top: string | undefined;
  let service: ComposeService | undefined;
  let key: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').replace(/^\s*#.*$/, '');
    if (!line.trim()) continue;
    const indent = line.length - line.trimStart().length;
    const t = line.trim();
    if (indent === 0) {
      top = t.replace(/:.*$/, '');
      topLevel.push(top);
      topSections[top] = [];
      service = undefined;
      continue;
    }
    if (top === 'services' && indent === 2) {
      service = { values: {}, environment: {}, ports: [], volumes: [], networks: [], keys: [] };
      services[t.replace(/:$/, '')] = service;
      continue;
    }
    if (top !== 'services' && indent === 2 && top) {
      topSections[top]!.push(t.replace(/:.*$/, ''));
      continue;
    }
    if (service && indent === 4) {
      key = t.replace(/:.*$/, '');
      service.keys.push(key);
      const value = t.slice(key.length + 1).trim();
      if (value) service.values[key] = value;
      continue;
    }
    if (service && indent >= 6 && t.startsWith('- ')) {
      const item = t
        .slice(2)
        .trim()
        .replace(/^"(.*)"$/, '$1');
      if (key === 'environment') {
        const eq = item.indexOf('=');
        service.environment[item.slice(0, eq)] = item.slice(eq + 1);
      } else if (key === 'ports') service.ports.push(item);
      else if (key === 'volumes') service.volumes.push(item);
      else if (key === 'networks') service.networks.push(item);
    }
  }
  return { services, topLevel, volumes: topSections['volumes'] ?? [], networks: topSections['networks'] ?? [] };
}

describe('examples/docker-compose.dev.yml', () => {
  const compose = readCompose(readFileSync(path.join(ROOT, 'examples/docker-compose.dev.yml'), 'utf8'));

  it('backend, frontend and wstap on one network; wstap built from the repository and published on 8001', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['backend', 'frontend', 'wstap']);
    const network = compose.networks[0]!;
    for (const [name, s] of Object.entries(compose.services)) expect(s.networks, name).toEqual([network]);
    expect(compose.services['wstap']!.ports).toContain('8001:8001');
    expect(compose.services['frontend']!.ports).toContain('3000:80');
    expect(compose.services['backend']!.ports).toContain('8000:8000');
  });

  it('runs as written: every build context is in the repository with a Dockerfile, every bind-mounted folder exists', () => {
    const here = path.join(ROOT, 'examples');
    for (const [name, s] of Object.entries(compose.services)) {
      if (s.values['build']) expect(existsSync(path.join(here, s.values['build'], 'Dockerfile')), `${name}: build ${s.values['build']}`).toBe(true);
      else expect(s.values['image'], `${name}: an image to pull`).toMatch(/^[a-z0-9./-]+:[\w.-]+$/);
      for (const v of s.volumes.filter((x) => x.startsWith('.'))) expect(existsSync(path.join(here, v.split(':')[0]!)), `${name}: ${v}`).toBe(true);
    }
  });

  it("the page's WebSocket URL is the one a frontend should use (passes wstap's own env diagnosis); the backend's bypass is complete", () => {
    const page = readFileSync(path.join(ROOT, 'examples/frontend/index.html'), 'utf8');
    const url = /params\.get\('ws'\) \|\| '([^']+)'/.exec(page)?.[1];
    expect(url).toBe('ws://localhost:8001/ws');
    expect(diagnoseEnv(new Map([['NEXT_PUBLIC_WS_URL', url!]])).findings).toEqual([]);
    expect(diagnoseEnv(new Map(Object.entries(compose.services['backend']!.environment))).findings).toEqual([]);
  });

  it("the whole setup in Chromium: the backend service's command with its environment, wstap with its, the frontend's page: open, an echo, a clean handshake", {
    timeout: 60_000,
  }, async () => {
    const b = compose.services['backend']!;
    const command = JSON.parse(b.values['command']!) as string[];
    const browser = await launchChromium();
    const page = await serveFile(browser, path.join(ROOT, 'examples', 'frontend', 'index.html'));
    try {
      // Only what cannot be the same outside Docker changes: addresses, ports, and the page's Origin (not localhost:3000 here).
      const hostPort = command.map((a, i) => (command[i - 1] === '--host' ? '127.0.0.1' : command[i - 1] === '--backend-port' ? '0' : a));
      const be = startImage({ ...b.environment, CORS_ORIGINS: page.origin }, hostPort);
      const beLine = await be.waitForJson((l) => l['event'] === 'demo-backend', 'the backend listening line');
      expect(beLine).toMatchObject({ host: '127.0.0.1', allowedOrigins: [page.origin] });
      expect(beLine['msg']).toMatch(/auth bypass on/);
      // No recording here: the recording volume is the other test's subject.
      const { WSTAP_RECORD: _recorded, ...wEnv } = compose.services['wstap']!.environment;
      const proxy = startImage({
        ...wEnv,
        WSTAP_HOST: '127.0.0.1',
        WSTAP_PORT: '0',
        WSTAP_TARGET: `http://127.0.0.1:${beLine['port']}`,
        WSTAP_ALLOW_ORIGINS: page.origin,
      });
      const port = listenPort(await proxy.waitForJson((l) => l['event'] === 'listening', 'the listening line'));
      await page.page.goto(`${page.origin}/?ws=${encodeURIComponent(`ws://127.0.0.1:${port}/ws`)}&token=dev-token`);
      await expect.poll(() => page.page.locator('#status').textContent(), { timeout: 10_000 }).toBe('open');
      await page.page.click('button');
      await expect.poll(() => page.page.locator('#log').textContent(), { timeout: 10_000 }).toContain('← {"type":"echo"');
      const hs = await proxy.waitForJson((l) => l['event'] === 'handshake', 'the handshake line');
      expect(hs).toMatchObject({ outcome: 'tunnel', status: 101, origins: [page.origin], findings: [] });
      be.proc.kill('SIGTERM');
      expect((await be.exited).code).toBe(0);
    } finally {
      await page.close();
      await browser.close();
    }
  });

  it('wstap targets the backend by its service name and records to a named volume', () => {
    const w = compose.services['wstap']!;
    expect(w.environment['WSTAP_TARGET']).toBe('http://backend:8000');
    const [volume, mount] = w.volumes[0]!.split(':') as [string, string];
    expect(compose.volumes).toContain(volume);
    expect(w.environment['WSTAP_RECORD']?.startsWith(`${mount}/`)).toBe(true);
  });

  it("the image runs with the compose file's environment for wstap: allowed Origins are applied", { timeout: 30_000 }, async () => {
    const w = compose.services['wstap']!;
    const recordings = mkdtempSync(path.join(os.tmpdir(), 'wstap-recordings-'));
    try {
      const mount = w.volumes[0]!.split(':')[1]!;
      const env = {
        ...w.environment,
        WSTAP_HOST: '127.0.0.1',
        WSTAP_PORT: '0',
        WSTAP_TARGET: backend!.url,
        ...(w.environment['WSTAP_RECORD'] ? { WSTAP_RECORD: path.join(recordings, path.relative(mount, w.environment['WSTAP_RECORD'])) } : {}),
      };
      const proc = startImage(env);
      const port = listenPort(await proc.waitForJson((l) => l['event'] === 'listening', 'the listening line'));
      const reply = await roundTrip(`ws://127.0.0.1:${port}/ws`, { Origin: 'http://localhost:3000' }, '{"id":2}');
      expect(JSON.parse(reply)).toMatchObject({ type: 'echo', data: { id: 2 } });
      // An Origin outside WSTAP_ALLOW_ORIGINS is reported (the demo backend rejects it too).
      await roundTrip(`ws://127.0.0.1:${port}/ws`, { Origin: 'http://frontend:3000' }, 'x').catch(() => {});
      const flagged = await proc.waitForJson(
        (l) => l['event'] === 'handshake' && JSON.stringify(l['findings']).includes('origin-disallowed'),
        'an origin-disallowed handshake',
      );
      expect(flagged['origins']).toEqual(['http://frontend:3000']);
      proc.proc.kill('SIGTERM');
      expect((await proc.exited).code).toBe(0);
      expect(proc.stderr()).toBe('');
    } finally {
      removeDir(recordings);
    }
  });
});
