/**
 * Keeps the benchmark runnable: the quick mode's smallest scenario (ping-pong) end to end,
 * with the real processes (echo backend, TCP pipe, wstap's CLI, load generator). No timing
 * is asserted here, ever: numbers on a shared machine are for `npm run bench` to report.
 * The verdicts of a comparison with an earlier run are checked on made-up numbers.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
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

  it('--reps 2: each CPU ratio with its range; --compare with that run: the comparison table, and in the JSON', async () => {
    const dir = path.join(out, 'compare');
    const args = ['bench/run.mjs', '--quick', '--reps', '2', '--only', 'ping-pong', '--targets', 'pipe,wstap', '--out', dir];
    const first = await run(process.execPath, args, { cwd: root, timeout: 90_000, maxBuffer: 1 << 20 });
    expect(first.stdout).toMatch(/\| wstap \(default logging\) \|.*\| \d+\.\d\d× \(\d+\.\d\d–\d+\.\d\d\) \| \S+ \|$/m);
    expect(first.stdout).toMatch(/^2 repetitions; /m);
    const before = path.join(out, 'before.json');
    copyFileSync(path.join(dir, 'latest.json'), before);
    const { stdout } = await run(process.execPath, [...args, '--compare', before], { cwd: root, timeout: 90_000, maxBuffer: 1 << 20 });
    expect(stdout).toMatch(/### Compared with .*before\.json \(/);
    expect(stdout).toMatch(/\| scenario \| target \| before × pipe \| now × pipe \| change \| verdict \|/);
    expect(stdout).toMatch(/^\| ping-pong \| wstap \| \d+\.\d\d× \(\S+\) \| \d+\.\d\d× \(\S+\) \| [+-]\d+\.\d% \| \S+ \|$/m);
    const result = JSON.parse(readFileSync(path.join(dir, 'latest.json'), 'utf8')) as {
      compare: { file: string; rows: { scenario: string; target: string; changePct: number; verdict: string }[] };
      repetitions: Record<string, { reps: number; extra: number }>;
    };
    expect(result.compare.file).toBe(before);
    expect(result.compare.rows.map((r) => [r.scenario, r.target])).toEqual([['ping-pong', 'wstap']]);
    expect(['same', 'slower', 'faster', 'noisy']).toContain(result.compare.rows[0]!.verdict);
    // A quick run repeats no noisy scenario unless asked to.
    expect(result.repetitions['ping-pong']).toMatchObject({ reps: 2, extra: 0 });
  }, 120_000);

  it('the verdicts: same when the ranges overlap, slower or faster when not, noisy past a 15% spread', async () => {
    type Runs = Record<string, { cpuUsPerMsg: number }[]>;
    const { compareResults } = (await import(pathToFileURL(path.join(root, 'bench', 'compare.mjs')).href)) as {
      compareResults: (
        before: { scenarios: Record<string, Runs> },
        now: { scenarios: Record<string, Runs> },
      ) => { verdict: string; changePct: number }[];
    };
    // The wstap CPU per message of three repetitions, against a pipe at 10 each time.
    const small = (...wstap: number[]) => ({
      scenarios: { small: { pipe: wstap.map(() => ({ cpuUsPerMsg: 10 })), wstap: wstap.map((cpuUsPerMsg) => ({ cpuUsPerMsg })) } },
    });
    const verdict = (before: number[], now: number[]) => compareResults(small(...before), small(...now))[0]!.verdict;
    expect(verdict([10, 10.5, 11], [10.8, 11.2, 11.5])).toBe('same');
    expect(verdict([10, 10.2, 10.4], [11, 11.2, 11.4])).toBe('slower');
    expect(verdict([11, 11.2, 11.4], [10, 10.2, 10.4])).toBe('faster');
    // Apart, but the medians within 3%: no change worth a verdict.
    expect(verdict([10, 10.2, 10.25], [10.3, 10.35, 10.4])).toBe('same');
    expect(verdict([10, 10.2, 12], [11, 11.2, 11.4])).toBe('noisy');
    expect(verdict([10], [12])).toBe('unsure (1 rep)');
    // Five repetitions or more: the lowest and the highest are left out of the range, so one disturbed repetition is outvoted.
    expect(verdict([10, 10.2, 10.4], [11, 11.2, 11.3, 11.4, 16])).toBe('slower');
    expect(compareResults(small(10, 10, 10), small(11, 11, 11))[0]!.changePct).toBeCloseTo(10);
    // Scenarios only one of the runs has are left out.
    expect(compareResults({ scenarios: { bulk: small(10, 10).scenarios.small } }, small(11, 11))).toEqual([]);
    // An idle scenario compares resident memory per connection (the pipe at 8 KiB each time).
    const idle = (...wstap: number[]) =>
      ({
        scenarios: {
          'idle-2000': { pipe: wstap.map(() => ({ rssPerConnKb: 8 })), wstap: wstap.map((rssPerConnKb) => ({ rssPerConnKb })) },
        },
      }) as unknown as { scenarios: Record<string, Runs> };
    const [memory] = compareResults(idle(10, 10.2, 10.4), idle(12, 12.2, 12.4));
    expect(memory).toMatchObject({ scenario: 'idle-2000', target: 'wstap', field: 'rssPerConnKb', verdict: 'slower' });
    expect(memory!.changePct).toBeCloseTo((12.2 / 10.2 - 1) * 100);
  });
});
