/** How the pattern findings write their measurements: one place, so their messages read alike. */

/** "0.6 s", "12 s": a span measured in seconds. */
export const secs = (ms: number): string => (ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`);

/** secs(), with spans under a second in milliseconds ("78 ms"): reconnects come fast. */
export const span = (ms: number): string => (ms < 1000 ? `${Math.round(ms)} ms` : secs(ms));

export const bytes = (n: number): string =>
  n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;

export const rate = (bps: number): string => `${bps >= 1024 ? bytes(bps) : `${Math.round(bps)} B`}/s`;
