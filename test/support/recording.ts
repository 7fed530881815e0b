/**
 * Helpers for the recording and replay tests (issue 4): temp files, WebSocket clients
 * that are cleaned up, a session recorded through a real proxy, and the real bin as a
 * child process. Real sockets on 127.0.0.1 and ephemeral ports; nothing is mocked.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import WebSocket, { type ClientOptions } from 'ws';
import type { Recording } from '../../src/recording/format.js';
import { loadRecording, parseRecording } from '../../src/recording/loader.js';
import type { PayloadMode } from '../../src/sinks/recorder.js';
import { startTestProxy } from './helpers.js';

import { ROOT, runBin as runProcess, startBin as startProcess, type Ran, type Started } from './process.js';

export { BIN, ROOT } from './process.js';

// --- cleanup -------------------------------------------------------------------------

const deferred: (() => Promise<void> | void)[] = [];

/** Runs fn after the current test (in reverse order of registration). */
export function defer(fn: () => Promise<void> | void): void {
  deferred.push(fn);
}

/** For afterEach: runs and forgets everything deferred. */
export async function runDeferred(): Promise<void> {
  for (const fn of deferred.splice(0).reverse()) {
    try {
      await fn();
    } catch {
      // A cleanup that fails must not hide the test's own result or skip the others.
    }
  }
}

/** A fresh folder under os.tmpdir(), removed after the test. */
export function tmpDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wstap-rec-test-'));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A path in a fresh temp folder (the file does not exist yet). */
export function tmpFile(name = 'session.jsonl'): string {
  return path.join(tmpDir(), name);
}

/** The dist build the bin runs: `npm test` builds first; a bare `npx vitest run` may not have. */
export function ensureBuilt(): void {
  if (!existsSync(new URL('../../dist/cli/main.js', import.meta.url))) {
    execFileSync('npx', ['tsc', '-p', '.'], { cwd: ROOT, stdio: 'inherit' });
  }
}

// --- polling -------------------------------------------------------------------------

/** Resolves once probe() returns something other than undefined/false (polls every 5 ms). */
export function until<T>(probe: () => T | undefined | false, what: string, timeoutMs = 4000): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = (): void => {
      const v = probe();
      if (v !== undefined && v !== false) return resolve(v);
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

/** Reads a recording file once it holds a line that matches (the recorder writes asynchronously). */
export async function recordingWhen(file: string, pred: (events: Record<string, unknown>[]) => boolean, what: string): Promise<Recording> {
  const text = await until(() => {
    if (!existsSync(file)) return undefined;
    const t = readFileSync(file, 'utf8');
    const events = t
      .split('\n')
      .filter((l) => l.trim() !== '')
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
    return pred(events) ? t : undefined;
  }, what);
  return parseRecording(text, file);
}

// --- WebSocket clients ---------------------------------------------------------------

export interface Client {
  ws: WebSocket;
  /** Every message received, in order. */
  received: { text: string; binary: boolean; data: Buffer }[];
  /** Resolves with the nth message received (counting from 1). */
  message(n: number): Promise<{ text: string; binary: boolean; data: Buffer }>;
  /** Sends a text message and resolves with the next message received after it. */
  ask(text: string | Buffer): Promise<{ text: string; binary: boolean; data: Buffer }>;
  closed: Promise<{ code: number; reason: string }>;
}

/** A ws client, open; terminated after the test. Rejects when the upgrade is refused. */
export async function openClient(url: string, protocols: string[] = [], options: ClientOptions = {}): Promise<Client> {
  const ws = new WebSocket(url, protocols, options);
  ws.on('error', () => {});
  defer(() => ws.terminate());
  const received: Client['received'] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => received.push({ text: data.toString('utf8'), binary: isBinary, data }));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      reject(new Error(`upgrade refused: ${res.statusCode}`));
    });
    ws.once('error', reject);
  });
  const message = (n: number): ReturnType<Client['message']> => until(() => received[n - 1], `message #${n} (have ${received.length})`);
  return {
    ws,
    received,
    message,
    ask: (data) => {
      const n = received.length + 1;
      ws.send(data);
      return message(n);
    },
    closed,
  };
}

/** Closes a client (1000 unless told) and resolves with the close it saw. */
export async function closeClient(c: Client, code = 1000, reason = 'done'): Promise<{ code: number; reason: string }> {
  if (c.ws.readyState === WebSocket.OPEN) c.ws.close(code, reason);
  return c.closed;
}

// --- recording a real session ------------------------------------------------------

/**
 * Records what `script` does through an in-process wstap in front of `target` and loads
 * the file once every tunnelled session has ended. `wsUrl(path)` points at the proxy.
 */
export async function recordThroughProxy(
  target: string,
  script: (wsUrl: (path: string) => string) => Promise<void>,
  opts: { file?: string; payloads?: PayloadMode } = {},
): Promise<{ file: string; rec: Recording }> {
  const file = opts.file ?? tmpFile();
  const tp = await startTestProxy({ target, record: { file, ...(opts.payloads !== undefined ? { payloads: opts.payloads } : {}) } });
  defer(() => tp.close());
  await script((p) => tp.wsUrl(p));
  await until(() => tp.ends.length >= tp.handshakes.filter((h) => h.outcome === 'tunnel').length, 'every recorded session to end');
  await tp.close();
  const rec = loadRecording(file);
  if (rec.warnings.length) throw new Error(`the recording has warnings: ${rec.warnings.join('; ')}`);
  return { file, rec };
}

// --- the real bin --------------------------------------------------------------------

export type LogLine = Record<string, unknown>;

/** The real bin (test/process-helpers.ts). */
export type Bin = Started;

/** `node bin/wstap.js ...args`; killed (SIGKILL) after the test if still running. */
export function startBin(args: string[], env: Record<string, string> = {}): Bin {
  const bin = startProcess(args, env);
  defer(() => {
    if (bin.proc.exitCode === null && bin.proc.signalCode === null) bin.proc.kill('SIGKILL');
  });
  return bin;
}

/** Runs the bin to completion (killed after limitMs, so a hang fails on its exit status). */
export function runBin(args: string[], limitMs = 4000): Promise<Ran> {
  return runProcess(args, {}, limitMs);
}

/** The proxy through the real bin with JSON logs on an ephemeral port; resolves once it listens. */
export async function startBinProxy(args: string[]): Promise<{ bin: Bin; port: number }> {
  const bin = startBin(['--port', '0', '--host', '127.0.0.1', '--log-format', 'json', ...args]);
  const listening = await bin.waitForJson((l) => l['event'] === 'listening', 'the listening line');
  const addresses = listening['addresses'] as { address: string; port: number }[];
  return { bin, port: addresses[0]!.port };
}
