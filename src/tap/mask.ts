/**
 * WebSocket masking (RFC 6455 5.3): payload[i] ^ key[i mod 4]. The optional native
 * bufferutil (the one ws uses) does it about eight times faster than JavaScript.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

type NativeMask = (source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number) => void;

const nativeMask: NativeMask | undefined = (() => {
  if (process.env['WS_NO_BUFFER_UTIL']) return undefined;
  try {
    return (require('bufferutil') as { mask: NativeMask }).mask;
  } catch {
    return undefined;
  }
})();

/** Whether the native unmasking is in use (WS_NO_BUFFER_UTIL=1 or a missing bufferutil: JavaScript). */
export const NATIVE_MASK = nativeMask !== undefined;

/** The masking key in the byte order it applies in; only used synchronously, so one serves every caller. */
const MASK = Buffer.alloc(4);

/**
 * out[offset + i] = source[start + i] ^ key[i & 3]: a (un)masked copy in one pass. `key` is the
 * 32-bit masking key as it applies to source[start] (see rotateKey).
 */
export function maskInto(source: Buffer, start: number, length: number, key: number, out: Buffer, offset: number): void {
  MASK.writeInt32BE(key | 0, 0);
  if (nativeMask !== undefined && length >= 32) {
    nativeMask(source.subarray(start, start + length), MASK, out, offset, length);
    return;
  }
  const m0 = MASK[0]!;
  const m1 = MASK[1]!;
  const m2 = MASK[2]!;
  const m3 = MASK[3]!;
  let i = 0;
  for (; i + 3 < length; i += 4) {
    out[offset + i] = source[start + i]! ^ m0;
    out[offset + i + 1] = source[start + i + 1]! ^ m1;
    out[offset + i + 2] = source[start + i + 2]! ^ m2;
    out[offset + i + 3] = source[start + i + 3]! ^ m3;
  }
  for (; i < length; i++) out[offset + i] = source[start + i]! ^ MASK[i & 3]!;
}

/** The masking key (big-endian, as on the wire) as it applies to a piece that starts `offset` bytes into the payload. */
export function rotateKey(key: number, offset: number): number {
  const r = (offset & 3) * 8;
  return r === 0 ? key : (key << r) | (key >>> (32 - r));
}
