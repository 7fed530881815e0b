/**
 * Keeps the benchmark runnable: the quick mode's smallest scenario (ping-pong) end to end,
 * with the real processes (echo backend, TCP pipe, wstap's CLI, load generator). No timing
 * is asserted here, ever: numbers on a shared machine are for `npm run bench` to report.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const out = mkdtempSync(path.join(os.tmpdir(), 'wstap-bench-smoke-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('bench (smoke)', () => {
  it('node bench/run.mjs --quick --only ping-pong: a table on stdout, JSON with every target', async () => {
    const { stdout } = await run(
      process.execPath,
      ['bench/run.mjs', '--quick', '--only', 'ping-pong', '--targets', 'direct,pipe,wstap,wstap-record,wstap-debug', '--out', out],
      { cwd: root, timeout: 90_000, maxBuffer: 1 << 20 },
    );
    expect(stdout).toMatch(/### Ping-pong latency/);
    expect(stdout).toMatch(/\| bare Node TCP pipe \|/);
    expect(stdout).toMatch(/\| wstap --record FILE \| [\d.]+ \|/);
    const result = JSON.parse(readFileSync(path.join(out, 'latest.json'), 'utf8')) as {
      mode: string;
      scenarios: Record<string, Record<string, { roundTrips: number; p50us: number; cpuUsPerMsg?: number }[]>>;
    };
    expect(result.mode).toBe('quick');
    const pp = result.scenarios['ping-pong']!;
    expect(Object.keys(pp).sort()).toEqual(['direct', 'pipe', 'wstap', 'wstap-debug', 'wstap-record']);
    for (const [name, [r]] of Object.entries(pp)) {
      expect(r!.roundTrips).toBe(2000);
      expect(r!.p50us).toBeGreaterThan(0);
      // The proxies' CPU was read from /proc; the direct run has no proxy.
      if (name === 'direct') expect(r!.cpuUsPerMsg).toBeUndefined();
      else expect(r!.cpuUsPerMsg).toBeGreaterThanOrEqual(0);
    }
  }, 120_000);
});
