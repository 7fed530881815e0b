// The benchmark's statistics: medians over repetitions, the per-repetition ratios to the TCP
// pipe with their range and spread, and the comparison of a run with an earlier one. No
// processes here: bench/run.mjs measures, this judges (and test/cli/bench-smoke.test.ts tests it).

/** A spread of a ratio above this (15% of its median) is noise: the repetitions disagree too much to tell a change. */
export const SPREAD_LIMIT = 0.15;
/** A change of the median ratio at or below this (3%) is no change, even when the ranges happen not to overlap. */
export const CHANGE_LIMIT = 0.03;

export function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/**
 * The median of some repetitions and their range. Up to 4 repetitions the range is the lowest
 * to the highest; from 5 on, the lowest and the highest are left out (what is left still holds
 * the median with about the confidence that 3 repetitions' full range does, 62% at 5 and 78%
 * at 6, against 75%). Without that, more repetitions could only widen a range and a noisy one
 * could never settle; with it, one disturbed repetition is outvoted. `lowest` and `highest`
 * are the extremes of all of them. spread = (max − min) / median.
 */
export function spreadOf(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  const n = v.length;
  if (n === 0) return { n, median: undefined, min: undefined, max: undefined, lowest: undefined, highest: undefined, spread: undefined };
  const trim = n >= 5 ? 1 : 0;
  const m = median(v);
  const min = v[trim];
  const max = v[n - 1 - trim];
  return { n, median: m, min, max, lowest: v[0], highest: v[n - 1], spread: n > 1 && m ? (max - min) / Math.abs(m) : undefined };
}

/**
 * Per target: the median over repetitions of a field, and the per-repetition ratios to the pipe
 * (paired: measured at the same moment, index for index, undefined where one is missing) with
 * their median (ratio), range (min, max; see spreadOf), relative spread and count (n).
 */
export function summarise(runs, field) {
  const out = {};
  const pipe = runs.pipe;
  for (const [name, reps] of Object.entries(runs)) {
    const ratios = pipe
      ? reps.map((r, i) => (pipe[i] && r && typeof r[field] === 'number' && pipe[i][field] ? r[field] / pipe[i][field] : undefined))
      : [];
    const s = spreadOf(ratios);
    out[name] = {
      median: median(reps.map((r) => r?.[field])),
      ratio: s.median,
      ratios,
      n: s.n,
      min: s.min,
      max: s.max,
      lowest: s.lowest,
      highest: s.highest,
      spread: s.spread,
    };
  }
  return out;
}

/** Per repetition, a / b of two targets' ratios (both to the same pipe repetition): the one against the other, paired. */
export function pairedQuotients(a, b) {
  return a.ratios.map((x, i) => (x !== undefined && b.ratios[i] ? x / b.ratios[i] : undefined));
}

/** The field whose ratio to the pipe is a scenario's figure: CPU for a load, resident memory per connection for the idle ones. */
export function cpuField(scenario) {
  if (scenario.startsWith('idle-')) return 'rssPerConnKb';
  return scenario === 'bulk' ? 'cpuMsPerMB' : 'cpuUsPerMsg';
}

/** Targets (the pipe aside) whose ratio's spread is above the limit. */
export function noisyTargets(summary, limit = SPREAD_LIMIT) {
  return Object.entries(summary)
    .filter(([name, s]) => name !== 'pipe' && s.spread !== undefined && s.spread > limit)
    .map(([name]) => name);
}

/**
 * Before against now, two spreadOf-like summaries of a ratio: `same` when the ranges overlap
 * (or the medians differ by at most 3%), `slower` / `faster` when they do not, `noisy` when
 * either side's spread is above 15% (that run can tell no change), `unsure (1 rep)` when a side
 * has a single repetition (no range to judge by).
 */
export function verdict(before, now) {
  if (before.n < 2 || now.n < 2) return 'unsure (1 rep)';
  if (before.spread > SPREAD_LIMIT || now.spread > SPREAD_LIMIT) return 'noisy';
  const change = now.ratio / before.ratio - 1;
  if (now.min <= before.max && before.min <= now.max) return 'same';
  if (Math.abs(change) <= CHANGE_LIMIT) return 'same';
  return change > 0 ? 'slower' : 'faster';
}

const pick = (s) => ({ ratio: s.ratio, min: s.min, max: s.max, spread: s.spread, n: s.n, ratios: s.ratios });

/**
 * A run's ratios against an earlier run's (both the JSON bench/run.mjs writes), recomputed
 * from the per-repetition results (an earlier file may have no summaries): per scenario both
 * have (CPU for the loads, memory for the idle ones) and per target both measured with a
 * ratio (the pipe aside).
 */
export function compareResults(before, now) {
  const rows = [];
  for (const [scenario, nowRuns] of Object.entries(now.scenarios ?? {})) {
    const field = cpuField(scenario);
    const beforeRuns = before.scenarios?.[scenario];
    if (!field || !beforeRuns) continue;
    const b = summarise(beforeRuns, field);
    const n = summarise(nowRuns, field);
    for (const target of Object.keys(nowRuns)) {
      if (target === 'pipe' || !b[target] || b[target].ratio === undefined || n[target].ratio === undefined) continue;
      rows.push({
        scenario,
        target,
        field,
        before: pick(b[target]),
        now: pick(n[target]),
        changePct: (n[target].ratio / b[target].ratio - 1) * 100,
        verdict: verdict(b[target], n[target]),
      });
    }
  }
  return rows;
}
