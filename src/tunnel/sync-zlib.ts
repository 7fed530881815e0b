/**
 * permessage-deflate for the message path, synchronously on the main thread (zlib's writeSync
 * on a stream's handle, as the frame decoder does): a message is inflated while it is read and
 * re-deflated when it is written, in wire order, so the streams' LZ77 windows stay in step with
 * the peers' without a thread-pool round trip per message.
 */
import zlib from 'node:zlib';
import { createRawInflater, DEFLATE_TRAILER, writeSyncFlush, zlibSyncOf, type ZlibSync } from '../tap/inflater.js';

let available: boolean | undefined;

/** Whether this Node offers the synchronous handle (checked once; every Node 20 does). */
export function hasSyncZlib(): boolean {
  if (available === undefined) {
    const probe = createRawInflater();
    available = zlibSyncOf(probe) !== undefined;
    probe.close();
  }
  return available;
}

/** A failed synchronous write throws there and then; the stream's 'error' event that follows must not be unhandled. */
function ignore(): void {}

function syncOf(z: zlib.InflateRaw | zlib.DeflateRaw): ZlibSync {
  z.on('error', ignore);
  const s = zlibSyncOf(z);
  if (s === undefined) throw new Error('this Node offers no synchronous zlib handle');
  return s;
}

/** A raw inflater with a 15-bit window, never reset: it reads every negotiated window size, with or without context takeover. */
export function newInflater(): ZlibSync {
  return syncOf(createRawInflater());
}

/**
 * wstap's own compressor for one direction (re-deflate mode). zlib refuses an 8-bit window for
 * raw deflate (Node quietly makes it 9), and a 9-bit deflater never refers back more than
 * 512 - 262 = 250 bytes (zlib keeps MIN_LOOKAHEAD free), so its output is valid for a receiver
 * that allowed 8 bits; any other size is used as negotiated.
 */
export class Redeflater {
  private readonly z: ZlibSync;

  constructor(windowBits: number) {
    this.z = syncOf(zlib.createDeflateRaw({ windowBits: Math.max(9, windowBits) }));
  }

  /** One message's compressed payload: deflated with a sync flush, the trailing 00 00 ff ff stripped (RFC 7692 7.2.1). */
  compress(payload: Buffer): Buffer {
    const parts: Buffer[] = [];
    let n = 0;
    writeSyncFlush(this.z, payload, 0, payload.length, (out, k) => {
      parts.push(Buffer.from(out.subarray(0, k)));
      n += k;
      return true;
    });
    const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
    return all.subarray(0, all.length - DEFLATE_TRAILER.length);
  }

  close(): void {
    this.z.stream.close();
  }
}
