/**
 * Waiting in tests: bounded polls and promises with a limit, never a bare sleep where a
 * condition can be waited for. A wait that gives up says what it waited for and the last
 * state it saw.
 *
 * sleep() is left for waits that are about time itself, each with a comment that says so: a
 * negative ("nothing arrives within N ms"), real time a time-based feature needs (a heartbeat,
 * an idle span, a timer under test), or writes kept apart so that they arrive as separate reads.
 * For an event, use until() (a condition polled) or withTimeout() (a promise, e.g.
 * events.once(emitter, 'name')).
 */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface UntilOptions {
  /** Give up after this many milliseconds (default 5000). */
  timeoutMs?: number;
  /** The state to show when it gives up (default: the probe's last answer). */
  seen?: () => unknown;
  /** Milliseconds between probes (default 5). */
  intervalMs?: number;
}

/** A short, readable rendering of a state for a failure message. */
export function describeState(v: unknown): string {
  let s: string;
  if (typeof v === 'string') s = JSON.stringify(v);
  else if (Buffer.isBuffer(v)) s = `${v.length} bytes ${JSON.stringify(v.toString('latin1').slice(0, 200))}`;
  else {
    try {
      s = JSON.stringify(v) ?? String(v);
    } catch {
      s = String(v);
    }
  }
  return s.length > 500 ? `${s.slice(0, 500)}…` : s;
}

/**
 * Polls `probe` every 5 ms (intervalMs) until it returns (or resolves to) something other than undefined
 * or false, and resolves with that. Gives up after the time limit (a number is the limit in
 * ms) with "timed out after N ms waiting for <what>; last seen: <state>". An async probe is
 * awaited: its promise is not the answer.
 */
export async function until<T>(
  probe: () => T | undefined | false | PromiseLike<T | undefined | false>,
  what: string,
  options: number | UntilOptions = {},
): Promise<T> {
  const { timeoutMs = 5000, seen, intervalMs = 5 } = typeof options === 'number' ? { timeoutMs: options } : options;
  const started = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${describeState(seen ? seen() : v)}`);
    await sleep(intervalMs);
  }
}

/** `p`, or a rejection naming `what` once `ms` have passed. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
