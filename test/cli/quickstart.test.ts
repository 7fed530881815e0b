/**
 * The README's Quick start, command by command, as a newcomer runs them. The commands
 * are read from the README, so that the test follows it; a line this test does not know
 * how to exercise fails it. They run in a temporary copy of the repository whose
 * node_modules is a link to this checkout's (what `npm ci` would install from the same
 * lock file: the Docker step test runs a real `npm ci`). Ports 8000 (the backend) and
 * 8001 (wstap) are replaced by free ones; the backend is wstap's demo backend, with the
 * guide's development auth bypass on.
 */
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startDemoBackend, type DemoBackend } from '../../src/demo/backend.js';
import { cleanEnv, copyRepo, removeDir, run, start, stopAll, type Started } from '../support/process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const PKG = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

/** The shell lines of the Quick start section's code blocks, comments removed. */
function quickStartCommands(): string[] {
  const section = README.split(/^## Quick start$/m)[1]?.split(/^## /m)[0];
  if (!section) throw new Error('README.md has no "## Quick start" section');
  const blocks = [...section.matchAll(/^```(?:sh|bash|shell)\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  return blocks
    .flatMap((b) => b.split('\n'))
    .map((l) => l.replace(/\s+#\s.*$/, '').trim())
    .filter((l) => l && !l.startsWith('#'));
}

const COMMANDS = quickStartCommands();

let copy: string | undefined;
let backend: DemoBackend | undefined;
let wstapPort = 0;
let proxy: Started | undefined;

/** The README's ports, replaced by the test's. */
function ports(s: string): string {
  return s.replace(/:8000\b/g, `:${backend!.port}`).replace(/:8001\b/g, `:${wstapPort}`);
}

function args(line: string): string[] {
  const words = line.split(/\s+/);
  // wstap picks its own port (0) and says which in its listening line: no port is taken early and bound later.
  return words.map((w, i) => (words[i - 1] === '--port' && w === '8001' ? '0' : ports(w)));
}

beforeAll(async () => {
  copy = copyRepo(ROOT, 'wstap-quickstart-');
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'), 'dir');
  backend = await startDemoBackend({ env: { ALLOW_DEV_AUTH_BYPASS: 'true', WEBSOCKET_AUTH_BYPASS: 'true', ENVIRONMENT: 'development' } });
}, 60_000);

afterAll(async () => {
  stopAll();
  await backend?.close();
  removeDir(copy);
});

const env = (): NodeJS.ProcessEnv => cleanEnv({ WSTAP_IN_CONTAINER: 'false' });

/** How each kind of Quick start line is exercised. */
const HANDLERS: { re: RegExp; what: string; test(line: string, m: RegExpMatchArray): Promise<void> }[] = [
  {
    re: /^npm ci && npm start$/,
    what: "builds and runs the demo: exit 0, and the findings of the guide's issues 1 to 5 in the output",
    async test() {
      expect(PKG.scripts['start']).toMatch(/build.*&&.*bin\/wstap\.js demo/);
      const r = await run('npm', ['start'], { cwd: copy!, env: env() }, 60_000);
      expect(r.code, r.stderr).toBe(0);
      // Not a terminal: JSON lines.
      const lines = r.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { findings?: { code: string }[] });
      const codes = new Set(lines.flatMap((l) => (l.findings ?? []).map((f) => f.code)));
      for (const c of ['upstream-refused', 'close-policy', 'origin-disallowed', 'upgrade-rejected', 'origin-duplicate', 'upstream-dns'])
        expect(codes, c).toContain(c);
    },
  },
  {
    re: /^npm ci && npm test$/,
    what: 'the test script builds first and runs this suite (not re-run from inside it)',
    async test() {
      expect(PKG.scripts['pretest']).toMatch(/build/);
      expect(PKG.scripts['test']).toMatch(/^vitest run/);
      const config = readFileSync(path.join(ROOT, 'vitest.config.ts'), 'utf8');
      expect(config).toContain("'test/**/*.test.ts'");
    },
  },
  {
    re: /^node bin\/wstap\.js (?!check\b)(.*)$/,
    what: 'the proxy in front of the backend: it listens, and a WebSocket passes through',
    async test(line) {
      proxy = start(process.execPath, args(line).slice(1), { cwd: copy!, env: env() });
      const listening = await proxy.waitForJson((l) => l['event'] === 'listening', 'the listening line');
      wstapPort = (listening['addresses'] as { port: number }[])[0]!.port;
      const reply = await new Promise<string>((resolve, reject) => {
        const ws = new WebSocket(`ws://localhost:${wstapPort}/ws`, { headers: { Origin: 'http://localhost:3000' } });
        ws.once('open', () => ws.send('{"id":1}'));
        ws.once('message', (d) => {
          resolve(d.toString());
          ws.close();
        });
        ws.once('error', reject);
      });
      expect(JSON.parse(reply)).toMatchObject({ type: 'echo', data: { id: 1 } });
      await proxy.waitForJson((l) => l['event'] === 'handshake' && l['outcome'] === 'tunnel', 'a tunnel handshake');
    },
  },
  {
    re: /^NEXT_PUBLIC_WS_URL=(\S+) npm run dev$/,
    what: "the frontend's NEXT_PUBLIC_WS_URL reaches the backend through wstap (checked with wstap check --dotenv)",
    async test(_line, m) {
      expect(proxy, 'the proxy line comes first in the Quick start').toBeDefined();
      const dir = mkdtempSync(path.join(os.tmpdir(), 'wstap-frontend-'));
      try {
        const file = path.join(dir, '.env.local');
        writeFileSync(file, `NEXT_PUBLIC_WS_URL=${ports(m[1]!)}\n`);
        const r = await run(
          process.execPath,
          ['bin/wstap.js', 'check', '--dotenv', file, '--origin', 'http://localhost:3000', '--linger', '200', '--json'],
          { cwd: copy!, env: env() },
        );
        expect(r.code, r.stdout + r.stderr).toBe(0);
        const result = JSON.parse(r.stdout) as { url: string; steps: { name: string; verdict: string }[] };
        expect(result.url).toBe(`ws://localhost:${wstapPort}/ws`);
        expect(result.steps.find((s) => s.name === 'env-file')?.verdict).toBe('ok');
        const tunnels = proxy!.json().filter((l) => l['event'] === 'handshake' && l['outcome'] === 'tunnel');
        expect(tunnels.length).toBeGreaterThanOrEqual(2);
      } finally {
        removeDir(dir);
      }
    },
  },
  {
    re: /^node bin\/wstap\.js check (.*)$/,
    what: 'wstap check of the backend: every step passes, exit 0',
    async test(line) {
      const r = await run(process.execPath, args(line).slice(1), { cwd: copy!, env: env() });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^✔ |^▲ healthy/m);
      expect(r.stdout).toMatch(/^ {2}✔ health\s/m);
      expect(r.stdout).toMatch(/^ {2}✔ linger\s/m);
    },
  },
];

describe('README Quick start', () => {
  it('has commands, and every one of them is exercised below', () => {
    expect(COMMANDS.length).toBeGreaterThan(0);
    for (const c of COMMANDS)
      expect(
        HANDLERS.some((h) => h.re.test(c)),
        `a Quick start line this test does not exercise: ${c}`,
      ).toBe(true);
  });

  for (const line of COMMANDS) {
    const h = HANDLERS.find((x) => x.re.test(line));
    if (!h) continue;
    it(`${line}: ${h.what}`, { timeout: 90_000 }, async () => {
      await h.test(line, line.match(h.re)!);
    });
  }
});
