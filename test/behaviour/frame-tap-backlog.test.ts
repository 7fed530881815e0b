/**
 * Decompression bombs (issue 12, class 3): compressed messages that inflate to far more than
 * they weigh, arriving faster than the thread pool inflates them. The compressed input waiting
 * for the inflater is bounded by bytes (16 MiB, or 4 × --max-message-size): past it, decoding
 * stops for the session with a line that says why, what waited is let go, and forwarding goes
 * on byte for byte. A raw client and a raw backend on 127.0.0.1 with permessage-deflate.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { defer, runDeferred } from '../support/cleanup.js';
import { frame, hasHead, openRawClient, openTestProxy, pmd, switchingHead, upgradeHead } from '../support/helpers.js';
import { until } from '../support/wait.js';

afterEach(runDeferred);

/** A backend that accepts permessage-deflate and hashes every byte after its 101 (it inflates nothing). */
async function hashingDeflateBackend(): Promise<{ url: string; got: { bytes: number; hash: ReturnType<typeof createHash> } }> {
  const got = { bytes: 0, hash: createHash('sha256') };
  const server = net.createServer((socket) => {
    let head: Buffer | undefined = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      if (head !== undefined) {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.write(switchingHead(undefined, ['Sec-WebSocket-Extensions: permessage-deflate']));
        d = head.subarray(end + 4);
        head = undefined;
      }
      got.bytes += d.length;
      got.hash.update(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  defer(() => {
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, got };
}

describe('a stream of decompression bombs', () => {
  it('stops decoding past the backlog bound with a line that says why; every byte still reaches the backend', { timeout: 60_000 }, async () => {
    const backend = await hashingDeflateBackend();
    const tp = await openTestProxy({ target: backend.url });
    const client = await openRawClient(tp.port);
    client.socket.write(upgradeHead('/ws', ['Sec-WebSocket-Extensions: permessage-deflate']));
    await client.waitFor(hasHead);
    // 4 MiB of zeros compress to about 4 KB: 8,000 of them are 32 MB on the wire and 32 GB inflated.
    const bomb = frame(0x2, pmd(Buffer.alloc(4 * 1024 * 1024)), { mask: true, rsv1: true });
    const sent = createHash('sha256');
    let bytes = 0;
    const batch = Buffer.concat(Array.from({ length: 100 }, () => bomb));
    for (let i = 0; i < 80; i++) {
      sent.update(batch);
      bytes += batch.length;
      if (!client.socket.write(batch)) await new Promise((r) => client.socket.once('drain', r));
    }
    const line = await until(() => tp.logs.find((l) => l['event'] === 'tap-failed'), 'the line that says decoding stopped', { timeoutMs: 30_000 });
    expect(String(line['msg'])).toMatch(
      /more than 16 MiB of compressed input from the client waited to be inflated .*decoding stops here to bound memory\); forwarding goes on/,
    );
    await until(() => backend.got.bytes >= bytes || undefined, 'every byte at the backend', { timeoutMs: 30_000, seen: () => backend.got.bytes });
    expect(backend.got.bytes).toBe(bytes);
    expect(backend.got.hash.digest('hex')).toBe(sent.digest('hex'));
  });
});
