/**
 * Helpers for the recording and replay tests (issue 4): WebSocket clients that are cleaned
 * up, a recording proxy, a session recorded through a real proxy, and the real bin
 * (support/cli.ts) under the names these tests use. Cleanup, temp files and waiting live in
 * cleanup.ts, temp.ts and wait.ts; they are re-exported here for the tests that import them
 * from this module. Real sockets on 127.0.0.1 and ephemeral ports; nothing is mocked.
 */
import { existsSync, readFileSync } from 'node:fs';

import WebSocket, { type ClientOptions } from 'ws';
import type { Recording } from '../../src/recording/format.js';
import { loadRecording, parseRecording } from '../../src/recording/loader.js';
import type { PayloadMode } from '../../src/sinks/recorder.js';
import { runWstap, startJsonProxy, startWstap } from './cli.js';
import { defer } from './cleanup.js';
import { openTestProxy, type TestProxy } from './helpers.js';
import type { Ran, Started } from './process.js';
import { tmpFile } from './temp.js';
import { until } from './wait.js';

export { BIN, ROOT, ensureBuilt } from './process.js';
export { defer, runDeferred } from './cleanup.js';
export { tmpDir, tmpFile } from './temp.js';
export { until } from './wait.js';
export type { LogLine } from './cli.js';

/** Reads a recording file once it holds a line that matches (the recorder writes asynchronously). */
export async function recordingWhen(file: string, pred: (events: Record<string, unknown>[]) => boolean, what: string): Promise<Recording> {
  const text = await until(
    () => {
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
    },
    what,
    { seen: () => (existsSync(file) ? `${readFileSync(file, 'utf8').split('\n').length - 1} lines in the file` : 'no file yet') },
  );
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
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      reject(new Error(`upgrade refused: ${res.statusCode}`));
    });
    ws.once('error', reject);
  });
  const message = (n: number): ReturnType<Client['message']> =>
    until(() => received[n - 1], `message #${n}`, {
      seen: () => `${received.length} messages: ${received.map((r) => r.text.slice(0, 60)).join(' | ')}`,
    });
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

/** A test proxy in front of target that records to record.file; closed after the test. */
export function recordingProxy(target: string, record: { file: string; payloads?: PayloadMode; maxBytes?: number }): Promise<TestProxy> {
  return openTestProxy({ target, record });
}

/** The data messages (text and binary) of a session, as from/kind/payload. */
export function dataOf(rec: Recording, i = 0): { from: string; kind: string; text?: string; base64?: string }[] {
  return rec.sessions[i]!.messages.filter((m) => m.kind === 'text' || m.kind === 'binary').map((m) => ({
    from: m.from,
    kind: m.kind,
    ...(m.text !== undefined ? { text: m.text } : {}),
    ...(m.base64 !== undefined ? { base64: m.base64 } : {}),
  }));
}

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
  const tp = await openTestProxy({ target, record: { file, ...(opts.payloads !== undefined ? { payloads: opts.payloads } : {}) } });
  await script((p) => tp.wsUrl(p));
  const tunnels = (): number => tp.handshakes.filter((h) => h.outcome === 'tunnel').length;
  await until(() => tp.ends.length >= tunnels(), 'every recorded session to end', { seen: () => `${tp.ends.length} of ${tunnels()} ended` });
  await tp.close();
  const rec = loadRecording(file);
  if (rec.warnings.length) throw new Error(`the recording has warnings: ${rec.warnings.join('; ')}`);
  return { file, rec };
}

// --- the real bin --------------------------------------------------------------------

/** The real bin (support/cli.ts). */
export type Bin = Started;

/** `node bin/wstap.js ...args` (support/cli.ts startWstap); killed after the test if still running. */
export function startBin(args: string[], env: Record<string, string> = {}): Bin {
  return startWstap(args, env);
}

/** Runs the bin to completion (support/cli.ts runWstap). */
export function runBin(args: string[], limitMs = 4000): Promise<Ran> {
  return runWstap(args, {}, limitMs);
}

/** The proxy through the real bin with JSON logs on an ephemeral port (support/cli.ts startJsonProxy). */
export async function startBinProxy(args: string[]): Promise<{ bin: Bin; port: number }> {
  const { w, port } = await startJsonProxy(args);
  return { bin: w, port };
}
