/**
 * The real bin for the command-line tests: `node bin/wstap.js ...` with the container
 * detection pinned off (this test machine may itself be a container; a test that wants
 * it sets WSTAP_IN_CONTAINER), every process started here killed after the test.
 */
import WebSocket from 'ws';
import { defer } from './cleanup.js';
import { runBin, startBin, type Ran, type Started } from './process.js';

export type LogLine = Record<string, unknown>;

/** The bin, started; killed (SIGKILL) after the test if still running. */
export function startWstap(args: string[], env: Record<string, string> = {}): Started {
  const w = startBin(args, { WSTAP_IN_CONTAINER: 'false', ...env });
  defer(() => {
    if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGKILL');
  });
  return w;
}

/**
 * The bin run to completion. A process still running after limitMs (say, an invalid option
 * accepted by mistake, so the proxy runs) is killed: the test then fails on its exit status.
 */
export function runWstap(args: string[], env: Record<string, string> = {}, limitMs = 4000): Promise<Ran> {
  return runBin(args, { WSTAP_IN_CONTAINER: 'false', ...env }, limitMs);
}

/** The proxy on an ephemeral port of 127.0.0.1 with JSON logs; resolves once it listens. */
export async function startJsonProxy(args: string[], env: Record<string, string> = {}): Promise<{ w: Started; port: number; listening: LogLine }> {
  const w = startWstap(['--port', '0', '--host', '127.0.0.1', '--log-format', 'json', ...args], env);
  const listening = await w.waitForJson((l) => l['event'] === 'listening', 'the listening line');
  const addresses = listening['addresses'] as { address: string; port: number }[];
  return { w, port: addresses[0]!.port, listening };
}

/** Resolves once the client is open (rejects on a refused upgrade). */
export function connected(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

/** Resolves when the client's connection is closed, however the upgrade went. */
export function closed(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve();
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      ws.terminate();
    });
    ws.once('close', () => resolve());
  });
}

/** The finding codes of a handshake log line. */
export const findingCodes = (l: LogLine): string[] => ((l['findings'] as { code: string }[] | undefined) ?? []).map((f) => f.code);
