/**
 * Decompression bombs (issue 12, class 3): compressed messages that inflate to far more than
 * they weigh, arriving faster than the thread pool inflates them. The compressed input waiting
 * for the inflater is bounded by bytes (16 MiB, or 4 × --max-message-size): past it, decoding
 * stops for the session with a line that says why, what waited is let go, and forwarding goes
 * on byte for byte. A raw client and a raw backend on 127.0.0.1 with permessage-deflate.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { hashingBackend } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { frame, hasHead, openRawClient, openTestProxy, pmd, upgradeHead } from '../support/helpers.js';
import { until } from '../support/wait.js';

afterEach(runDeferred);

describe('a stream of decompression bombs', () => {
  it('stops decoding past the backlog bound with a line that says why; every byte still reaches the backend', { timeout: 60_000 }, async () => {
    const backend = await hashingBackend(['Sec-WebSocket-Extensions: permessage-deflate']);
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
    await until(() => (backend.got[0]?.bytes ?? 0) >= bytes || undefined, 'every byte at the backend', {
      timeoutMs: 30_000,
      seen: () => backend.got[0]?.bytes,
    });
    expect(backend.got[0]!.bytes).toBe(bytes);
    expect(backend.got[0]!.hash.digest('hex')).toBe(sent.digest('hex'));
  });
});
