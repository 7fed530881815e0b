/**
 * The vitest fixture on a first day: the README's example compiles under tsc --strict; replay
 * before any recording exists says to record first; WSTAP_MODE overrides the mode in the code
 * (as the README says); and in record mode a session that fails shows its findings on standard
 * error, where the test runner prints them. A real FastAPI backend for the failing session.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureMode, wsFixture } from '../../src/replay/fixture.js';
import { startFastApi, type FastApiBackend } from '../support/peers/fastapi.js';
import { ensureBuilt, ROOT } from '../support/process.js';
import { tmpFile } from '../support/temp.js';

const run = promisify(execFile);

describe("the README's vitest example", () => {
  const dir = path.join(ROOT, 'test', '.readme-example');
  beforeAll(() => ensureBuilt());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('compiles under tsc --strict against the package as installed (wstap/replay)', async () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### In a vitest test'));
    const code = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
    expect(code).toContain("from 'wstap/replay'");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'example.ts'), code);
    const tsconfig = {
      compilerOptions: {
        strict: true,
        noEmit: true,
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2023',
        types: ['node'],
        skipLibCheck: true,
      },
      include: ['example.ts'],
    };
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
    const r = await run(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { cwd: dir }).catch(
      (e: { stdout: string; code: number }) => e,
    );
    expect('code' in r ? r.stdout : '').toBe('');
  }, 60_000);
});

describe('wsFixture modes', () => {
  it('replay before any recording exists: says to record it first', async () => {
    await expect(wsFixture({ recording: tmpFile('missing.jsonl'), mode: 'replay' })).rejects.toThrow(/record it first: WSTAP_MODE=record/);
  });

  it('WSTAP_MODE overrides the mode in the code; without it, the code decides; without either, replay', () => {
    expect(fixtureMode({ mode: 'replay' }, 'record')).toBe('record');
    expect(fixtureMode({ mode: 'record' }, undefined)).toBe('record');
    expect(fixtureMode({}, undefined)).toBe('replay');
    expect(() => fixtureMode({}, 'recrod')).toThrow(/WSTAP_MODE=recrod is not a mode/);
  });
});

describe('record mode', () => {
  let api: FastApiBackend;
  beforeAll(async () => {
    ensureBuilt();
    api = await startFastApi();
  }, 30_000);
  afterAll(() => api?.close());

  it("a session that fails shows wstap's findings on standard error", async () => {
    const file = tmpFile('recorded.jsonl');
    const script = `
      import { wsFixture } from ${JSON.stringify(path.join(ROOT, 'dist', 'replay', 'index.js'))};
      import WebSocket from 'ws';
      const f = await wsFixture({ recording: ${JSON.stringify(file)}, mode: 'record', target: ${JSON.stringify(api.url)} });
      const ws = new WebSocket(f.url + '/ws', { origin: 'http://localhost:3000' });
      await new Promise((r) => ws.once('close', r));
      await f.close();
    `;
    const r = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, env: { ...process.env, WSTAP_MODE: '' } });
    expect(r.stderr).toMatch(/GET \/ws .*→ 101 · closed by server 1008 "Authentication required"/);
    expect(r.stderr).toMatch(/close-policy/);
    expect(r.stderr).toMatch(/fix for close-policy: Authentication failed/);
  }, 30_000);
});
