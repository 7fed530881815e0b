/**
 * The localhost-in-container warning stays quiet when the target answers on localhost from
 * inside the same container (a dev container, Codespaces), and speaks when nothing does: in
 * wstap check's environment step and in the proxy's startup lines. Real sockets; the real bin.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheck } from '../../src/check/run-check.js';
import { refusedPort } from '../support/helpers.js';
import { ensureBuilt, startBin } from '../support/process.js';

let server: http.Server;
let live: number;
beforeAll(async () => {
  ensureBuilt();
  server = http.createServer((_q, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  live = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const inside = { inContainer: true, evidence: 'WSTAP_IN_CONTAINER=true' };

describe('localhost in a container', () => {
  it('check: a backend that answers on localhost here is in this container: no warning', async () => {
    const r = await runCheck({ url: `ws://127.0.0.1:${live}/ws`, container: inside, lingerMs: 50, timeoutMs: 2000 });
    const env = r.steps.find((s) => s.name === 'environment')!;
    expect(env).toMatchObject({ verdict: 'ok', findings: [] });
  });

  it('check: nothing answers on localhost here: the warning, with the service name to use', async () => {
    const r = await runCheck({ url: `ws://127.0.0.1:${await refusedPort()}/ws`, container: inside, lingerMs: 50, timeoutMs: 2000 });
    const env = r.steps.find((s) => s.name === 'environment')!;
    expect(env.verdict).toBe('warn');
    expect(env.findings.map((f) => f.code)).toEqual(['localhost-in-container']);
  });

  it('the proxy: no environment line for a target that answers, one for a target that does not', async () => {
    for (const [port, expected] of [
      [live, 0],
      [await refusedPort(), 1],
    ] as const) {
      const bin = startBin(['--target', `http://localhost:${port}`, '--port', '0', '--host', '127.0.0.1', '--log-format', 'json'], {
        WSTAP_IN_CONTAINER: 'true',
      });
      // The container check comes before the listening line.
      await bin.waitForJson((l) => l['event'] === 'listening', 'the listening line');
      bin.proc.kill('SIGTERM');
      await bin.exited;
      expect(bin.json().filter((l) => l['event'] === 'environment')).toHaveLength(expected);
    }
  });
});
