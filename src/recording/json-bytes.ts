/**
 * JSON string encoding on bytes. JSON.stringify costs about 4 ns per character on
 * Node 20, which for a recorded 1 KB message is half of what forwarding it costs;
 * escaping the UTF-8 bytes of the payload directly, four bytes at a time, costs less
 * than half of that. The output is JSON.stringify's, byte for byte
 * (test/json-bytes.test.ts compares them).
 */

/** The escape of each byte as JSON.stringify writes it inside a string (empty: the byte stands for itself). */
const ESCAPE: Buffer[] = Array.from({ length: 256 }, (_, i) => {
  const json = JSON.stringify(String.fromCharCode(i)).slice(1, -1);
  return json.length > 1 && i < 0x80 ? Buffer.from(json, 'latin1') : Buffer.alloc(0);
});

/** For each byte, how many bytes its escape adds (0: none). */
const GROWTH = new Uint8Array(ESCAPE.map((e) => (e.length > 0 ? e.length - 1 : 0)));

/** Where the bytes to escape are (reused across calls: encoding is synchronous). */
let positions = new Int32Array(256);
let count = 0;
let extra = 0;

function note(bytes: Buffer, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const g = GROWTH[bytes[i]!]!;
    if (g === 0) continue;
    if (count === positions.length) {
      const more = new Int32Array(positions.length * 2);
      more.set(positions);
      positions = more;
    }
    positions[count++] = i;
    extra += g;
  }
}

/**
 * The length of the inside of a JSON string (no quotes) holding the text whose
 * well-formed UTF-8 bytes are `bytes`. The caller checks well-formedness (`isUtf8`):
 * UTF-8 has no lone surrogates, so only controls, quotes and backslashes need escaping.
 * Remembers where they are, for the escapeInto() call that must follow.
 */
export function escapedLength(bytes: Buffer): number {
  const n = bytes.length;
  const offset = bytes.byteOffset;
  count = 0;
  extra = 0;
  // Bytes up to a 4-byte boundary one by one, then whole words: a word is looked at
  // byte by byte only when it may hold a control (< 0x20), a quote or a backslash.
  const head = Math.min(n, (4 - (offset & 3)) & 3);
  note(bytes, 0, head);
  const words = (n - head) >>> 2;
  if (words > 0) {
    const u32 = new Uint32Array(bytes.buffer, offset + head, words);
    for (let j = 0; j < words; j++) {
      const v = u32[j]!;
      const q = v ^ 0x22222222;
      const b = v ^ 0x5c5c5c5c;
      if ((((v - 0x20202020) & ~v) | ((q - 0x01010101) & ~q) | ((b - 0x01010101) & ~b)) & 0x80808080) {
        const i = head + j * 4;
        note(bytes, i, i + 4);
      }
    }
  }
  note(bytes, head + words * 4, n);
  return n + extra;
}

/**
 * Writes the escaped form of `bytes` (the same bytes escapedLength() was just called on)
 * to out[at...]; returns the number of bytes written. `out` must have room for them.
 */
export function escapeInto(bytes: Buffer, out: Buffer, at: number): number {
  const n = bytes.length;
  const total = n + extra;
  out.set(bytes, at);
  if (count === 0) return total;
  const found = positions;
  const escapes = count;
  // A message full of quotes made the list large: let it go after this one.
  if (positions.length > 65_536) positions = new Int32Array(256);
  count = 0;
  // Each run after an escaped byte is moved right into place, last first.
  let end = n;
  let shift = extra;
  for (let j = escapes - 1; j >= 0; j--) {
    const i = found[j]!;
    if (end > i + 1) out.copyWithin(at + i + 1 + shift, at + i + 1, at + end);
    const e = ESCAPE[bytes[i]!]!;
    shift -= e.length - 1;
    for (let k = 0; k < e.length; k++) out[at + i + shift + k] = e[k]!;
    end = i;
  }
  return total;
}

/** escapedLength() and escapeInto() in one: a new buffer, or `bytes` itself when nothing needs escaping. */
export function jsonStringBody(bytes: Buffer): Buffer {
  const length = escapedLength(bytes);
  if (length === bytes.length) {
    count = 0;
    return bytes;
  }
  const out = Buffer.allocUnsafe(length);
  escapeInto(bytes, out, 0);
  return out;
}
