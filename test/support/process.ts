/**
 * Child processes for the tests: run a command (or the real bin, `node bin/wstap.js`) to
 * completion, or start one and wait for its output. Every process started here is
 * tracked, and stopAll() kills the ones still running.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/wstap.js', import.meta.url));

/** The dist build the bin runs: `npm test` builds first (pretest); a bare `npx vitest run` may not have. For beforeAll. */
export function ensureBuilt(): void {
  if (!existsSync(new URL('../../dist/cli/main.js', import.meta.url))) {
    execFileSync('npx', ['tsc', '-p', '.'], { cwd: ROOT, stdio: 'inherit' });
  }
}

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Started {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout match, seen so far or later; rejects if the process exits first. */
  waitFor(re: RegExp, what?: string): Promise<RegExpMatchArray>;
  /** waitFor with the default description. */
  waitForText(re: RegExp): Promise<RegExpMatchArray>;
  /** Resolves with the first complete stdout line that is JSON and matches. */
  waitForJson(pred: (l: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>>;
  json(): Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

/** The parent's environment without anything that configures wstap, colours or the container detection. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('WSTAP_') || k === 'NO_COLOR' || k === 'FORCE_COLOR' || k === 'container') continue;
    // npm sets these for the scripts it runs (npm test); a nested npm must not inherit them.
    if (k.startsWith('npm_') || k === 'INIT_CWD') continue;
    env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function start(cmd: string, args: string[], opts: SpawnOptions = {}): Started {
  const proc = spawn(cmd, args, { env: cleanEnv(), ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  let out = '';
  let err = '';
  let done = false;
  const watchers = new Set<() => void>();
  const poke = (): void => {
    for (const w of [...watchers]) w();
  };
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    poke();
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    poke();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('error', (e) => {
      err += String(e);
      done = true;
      running.delete(proc);
      resolve({ code: null, signal: null });
      poke();
    });
    proc.on('close', (code, signal) => {
      done = true;
      running.delete(proc);
      resolve({ code, signal });
      poke();
    });
  });
  const json = (): Record<string, unknown>[] =>
    out
      .split('\n')
      .slice(0, -1)
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const waitUntil = <T>(probe: () => T | undefined, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const v = probe();
        if (v !== undefined) {
          watchers.delete(check);
          resolve(v);
        } else if (done) {
          watchers.delete(check);
          reject(new Error(`${cmd} ${args.join(' ')} exited before ${what}\nstdout:\n${out}\nstderr:\n${err}`));
        }
      };
      watchers.add(check);
      check();
    });
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    json,
    waitFor: (re, what) => waitUntil(() => out.match(re) ?? undefined, what ?? `stdout matching ${re}`),
    waitForText: (re) => waitUntil(() => out.match(re) ?? undefined, `stdout matching ${re}`),
    waitForJson: (pred, what) => waitUntil(() => json().find(pred), what),
    exited,
  };
}

/** Runs to completion; a process still running after limitMs is killed (the test then fails on its status). */
export async function run(cmd: string, args: string[], opts: SpawnOptions = {}, limitMs = 15_000): Promise<Ran> {
  const s = start(cmd, args, opts);
  const timer = setTimeout(() => s.proc.kill('SIGKILL'), limitMs);
  const r = await s.exited;
  clearTimeout(timer);
  return { ...r, stdout: s.stdout(), stderr: s.stderr() };
}

/** `node bin/wstap.js ...args` from the repository root; `env` is added to cleanEnv(). */
export function startBin(args: string[], env: Record<string, string | undefined> = {}): Started {
  return start(process.execPath, [BIN, ...args], { cwd: ROOT, env: cleanEnv(env) });
}

/** The bin run to completion; killed after limitMs, so a hang fails on its exit status. */
export function runBin(args: string[], env: Record<string, string | undefined> = {}, limitMs = 4000): Promise<Ran> {
  return run(process.execPath, [BIN, ...args], { cwd: ROOT, env: cleanEnv(env) }, limitMs);
}

export function stopAll(): void {
  for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  running.clear();
}

/** Entries of the repository that are never copied: installed or built output, VCS data, local results. */
const NOT_COPIED = new Set(['node_modules', 'dist', '.git', 'coverage', 'bench']);

/** A copy of the repository in a new temporary directory, without node_modules, dist and .git. */
export function copyRepo(root: string, prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  for (const entry of readdirSync(root)) {
    if (NOT_COPIED.has(entry)) continue;
    cpSync(path.join(root, entry), path.join(dir, entry), { recursive: true });
  }
  return dir;
}

export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}
