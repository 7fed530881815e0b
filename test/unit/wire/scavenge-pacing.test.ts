import { constants, PerformanceObserver, performance } from 'node:perf_hooks';
import { afterAll, describe, expect, it } from 'vitest';
import { paceScavenges, SCAVENGE_EVERY_BYTES } from '../../../src/wire/scavenge-pacing.js';

/** The young-generation collections V8 reports, with their start times (performance.now()). */
const minor: number[] = [];
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries())
    if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor.push(e.startTime);
});
observer.observe({ entryTypes: ['gc'] });
afterAll(() => observer.disconnect());

/** Runs f and returns the young collections that started while it ran (entries arrive on a later tick). */
async function minorDuring(f: () => void): Promise<number> {
  const t0 = performance.now();
  f();
  const t1 = performance.now();
  await new Promise((r) => setTimeout(r, 50));
  return minor.filter((t) => t >= t0 && t <= t1).length;
}

describe('scavenge pacing (the dead read buffers of a busy tunnel freed before they count against the old generation)', () => {
  it('collects the young generation once per SCAVENGE_EVERY_BYTES read, not before', async () => {
    expect(await minorDuring(() => paceScavenges(SCAVENGE_EVERY_BYTES - 1))).toBe(0);
    expect(await minorDuring(() => paceScavenges(1))).toBe(1);
    // The count starts again: 64 KB reads, as a socket delivers them, up to the next step.
    const reads = SCAVENGE_EVERY_BYTES / 65536;
    expect(
      await minorDuring(() => {
        for (let i = 0; i < reads - 1; i++) paceScavenges(65536);
      }),
    ).toBe(0);
    expect(await minorDuring(() => paceScavenges(65536))).toBe(1);
  });

  it('does not leave gc on the global object', () => {
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});
