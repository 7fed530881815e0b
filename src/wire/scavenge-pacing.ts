/**
 * Young-generation collections paced by the bytes of short-lived buffers: what a tunnel reads,
 * the payloads the frame decoder keeps for the sinks, the recorder's slabs (issue 17: CPU per MB
 * of bulk traffic, as users run wstap, without tuning).
 *
 * Every socket read gives Node a new ArrayBuffer of up to 64 KB, and V8 frees the ones that
 * died only when it collects the young generation. Until then (Node 20's V8) their bytes count
 * as external memory allocated since the last full collection, which it weighs against the
 * old generation's allocation limit. A bare pipe never meets that limit: it never had a full
 * collection, so its limit is still the generous initial one. wstap has a 10 MB heap after
 * start, whose limit leaves about 16 MB of room, and bulk traffic reads about 30 MB between
 * two young collections: every 20 MB or so of traffic started a full collection (mark and
 * compact, 5 ms on the main thread and more on a helper thread) that freed almost nothing.
 *
 * A young collection every SCAVENGE_EVERY_BYTES of them frees the dead buffers before they add
 * up to that room. It costs about a millisecond when most of the young generation is dead, as
 * it is on a busy tunnel. `gc` is exposed for this by turning V8's --expose-gc on just long
 * enough to fetch the function from a new context (it is not put on the global object).
 * Where that fails, nothing is paced and nothing else changes.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

/** Bytes between two young collections: well below the room of a small heap's limit. */
export const SCAVENGE_EVERY_BYTES = 8 * 1024 * 1024;

type GcFunction = (options: { type: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

let read = 0;
/** undefined: not looked up yet; null: not available. */
let collect: GcFunction | null | undefined;

function lookUpGc(): GcFunction | null {
  const exposed = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === 'function') return exposed as GcFunction;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as GcFunction) : null;
  } catch {
    return null;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

/** Counts bytes of short-lived buffers (read, or allocated); past SCAVENGE_EVERY_BYTES, collects the young generation. */
export function paceScavenges(bytes: number): void {
  read += bytes;
  if (read < SCAVENGE_EVERY_BYTES) return;
  read = 0;
  if (collect === undefined) collect = lookUpGc();
  collect?.({ type: 'minor' });
}
