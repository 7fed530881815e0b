/**
 * permessage-deflate (RFC 7692) on zlib streams, synchronously: Node's zlib streams run
 * on the thread pool, one round trip per write; their handle also has writeSync, which
 * the decoder uses for the common small message (no round trip) while keeping the
 * stream, and so the LZ77 window that context takeover needs, for the rest.
 */
import zlib from 'node:zlib';

/** The four bytes a sync flush ends with: the sender strips them from each message, the receiver appends them. */
export const DEFLATE_TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
export const Z_SYNC_FLUSH = zlib.constants.Z_SYNC_FLUSH;

/** Output of synchronous writes: what is kept is copied out at once, so one buffer serves every stream. */
const SCRATCH = Buffer.allocUnsafe(64 * 1024);

/** The synchronous side of a zlib stream (Node's zlib handle; present since Node 10, checked at run time). */
export interface ZlibSync {
  readonly stream: zlib.InflateRaw | zlib.DeflateRaw;
  handle: { writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void };
  /** [availOutAfter, availInAfter] of the last write. */
  state: Uint32Array;
}

/** The stream's synchronous handle, or undefined when this Node does not offer one. */
export function zlibSyncOf(z: zlib.InflateRaw | zlib.DeflateRaw): ZlibSync | undefined {
  const internals = z as unknown as { _handle?: { writeSync?: unknown }; _writeState?: unknown };
  const handle = internals._handle;
  const state = internals._writeState;
  if (!handle || typeof handle.writeSync !== 'function' || !(state instanceof Uint32Array) || state.length < 2) return undefined;
  return { stream: z, handle: handle as ZlibSync['handle'], state };
}

export class ZlibDataError extends Error {
  override readonly name = 'ZlibDataError';
}

/**
 * Runs input[inOff, inOff + inLen) through the stream with Z_SYNC_FLUSH on the main thread.
 * Each piece of output is handed to onOutput(scratch, n) and must be used or copied at once;
 * onOutput returns false to stop once the scratch buffer was filled: the stream may then still hold
 * output and input may be left (`stopped`). Returns how much of the input was consumed; throws
 * ZlibDataError on invalid data (the stream is then destroyed).
 */
export function writeSyncFlush(
  z: ZlibSync,
  input: Buffer,
  inOff: number,
  inLen: number,
  onOutput: (out: Buffer, n: number) => boolean,
): { consumed: number; stopped: boolean } {
  const start = inOff;
  for (;;) {
    z.handle.writeSync(Z_SYNC_FLUSH, input, inOff, inLen, SCRATCH, 0, SCRATCH.length);
    // An error destroys the stream at once (its 'error' event follows on the next tick).
    if (z.stream.destroyed) {
      const err = (z.stream as unknown as { errored?: Error | null }).errored;
      throw new ZlibDataError(err?.message ?? 'zlib error');
    }
    const availOut = z.state[0]!;
    const availIn = z.state[1]!;
    const have = SCRATCH.length - availOut;
    const more = have > 0 ? onOutput(SCRATCH, have) : true;
    inOff += inLen - availIn;
    inLen = availIn;
    // Output space left: all the input is consumed and its output flushed.
    if (availOut !== 0) return { consumed: inOff - start, stopped: false };
    if (!more) return { consumed: inOff - start, stopped: true };
  }
}

/** A raw inflater with a 15-bit window: it decodes every negotiated window size, with or without context takeover. */
export function createRawInflater(): zlib.InflateRaw {
  return zlib.createInflateRaw({ windowBits: 15 });
}
