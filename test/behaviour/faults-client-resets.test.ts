/**
 * Faults, a client that goes away or floods: resets and closes around the 101 and in the
 * tunnel, and more than 1 MiB of early data before the 101. The proxy passes the end on,
 * never crashes, loses no byte, and leaks no socket (stats() drains to 0/0).
 *
 * Real sockets on 127.0.0.1, ephemeral ports, no mocks. No timing assertions: waits are
 * bounded polls with generous limits.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { runDeferred } from '../support/cleanup.js';
import { connectRaw, expectHealthy, proxyFor, readResponse, startBackend } from '../support/faults.js';
import { frame, switchingHead, upgradeHead } from '../support/helpers.js';
import { until, withTimeout } from '../support/wait.js';

afterEach(runDeferred);

// ---------------------------------------------------------------------------------------------
// 6, 7. Client resets around the 101
// ---------------------------------------------------------------------------------------------

describe('faults: client resets', () => {
  it('6. a client that resets before the 101: no crash, outcome aborted, backend connection closed', async () => {
    let lateAnswered!: () => void;
    const late101 = new Promise<void>((r) => (lateAnswered = r));
    const backend = await startBackend({
      '/slow': (u) => {
        setTimeout(() => {
          if (!u.socket.destroyed) u.socket.write(switchingHead(u.key));
          lateAnswered();
        }, 300);
      },
    });
    const tp = await proxyFor(backend.url);
    const client = await connectRaw(tp.port);
    client.write(upgradeHead('/slow'));
    const u = await backend.upgradeOn('/slow');
    client.resetAndDestroy();
    const s = await tp.nextHandshake(1);
    expect(s.outcome).toBe('aborted');
    // The proxy closes the backend connection; the backend never closes it by itself.
    await withTimeout(u.closed, 5000, 'the backend connection to be closed by the proxy');
    // Past the backend's late 101: nothing must blow up when it is written.
    await withTimeout(late101, 5000, "the backend's late 101 to be written (or skipped on a closed socket)");
    await expectHealthy(tp);
    await until(() => backend.openSockets() === 0, 'every backend socket to close');
  });

  it('6b. a client that closes (FIN) before the 101: outcome aborted, backend connection closed', async () => {
    const backend = await startBackend({ '/slow': () => {} });
    const tp = await proxyFor(backend.url);
    const client = await connectRaw(tp.port);
    client.write(upgradeHead('/slow'));
    const u = await backend.upgradeOn('/slow');
    client.end();
    const s = await tp.nextHandshake(1);
    expect(s.outcome).toBe('aborted');
    await withTimeout(u.closed, 5000, 'the backend connection to be closed by the proxy');
    client.destroy();
    await expectHealthy(tp);
  });

  it('7. a client that resets in the tunnel: the backend connection is reset too (not closed), endedBy client', async () => {
    const backend = await startBackend({ '/raw': (u) => u.socket.write(switchingHead(u.key)) });
    const tp = await proxyFor(backend.url);
    const client = await connectRaw(tp.port);
    client.write(upgradeHead('/raw'));
    const res = await readResponse(client);
    expect(res.status).toBe(101);
    const u = await backend.upgradeOn('/raw');
    const f = frame(1, 'hello', { mask: true });
    client.write(f);
    await until(() => u.byteCount >= f.length, 'the frame at the backend');
    expect(Buffer.concat(u.data).equals(f)).toBe(true);
    client.resetAndDestroy();
    await withTimeout(u.closed, 5000, 'the backend connection to be closed');
    // A reset is passed on as a reset: the backend reads ECONNRESET, not an end of stream.
    expect(u.error).toBe('ECONNRESET');
    const { end } = await tp.nextEnd(1);
    expect(end.endedBy).toBe('client');
    expect(end.how).toBe('reset');
    expect(end.bytes.clientToServer).toBe(f.length);
    await expectHealthy(tp);
  });
});

// ---------------------------------------------------------------------------------------------
// 14. Lots of early data
// ---------------------------------------------------------------------------------------------

describe('faults: early data', () => {
  it('14. more than 1 MiB before the 101: the proxy stops reading, then delivers every early byte unchanged', async () => {
    const backend = await startBackend({ '/hold': () => {} });
    const tp = await proxyFor(backend.url);
    const payload = randomBytes(24 * 1024 * 1024);
    const client = await connectRaw(tp.port);
    client.write(upgradeHead('/hold'));
    // In 64 KiB writes: client.writableLength then shows how much the proxy has not taken.
    for (let i = 0; i < payload.length; i += 65536) client.write(payload.subarray(i, i + 65536));
    const u = await backend.upgradeOn('/hold');

    // Wait until the client's writes stop making progress: the proxy has stopped reading.
    let last = -1;
    let stableSince = Date.now();
    await until(
      () => {
        const now = client.writableLength;
        if (now !== last) {
          last = now;
          stableSince = Date.now();
        }
        return Date.now() - stableSince > 300;
      },
      'the client writes to stall',
      10_000,
    );
    // Far from everything was taken: the proxy buffers about 1 MiB, the kernel a few more.
    expect(client.writableLength).toBeGreaterThan(8 * 1024 * 1024);
    // Nothing crossed before the 101.
    expect(u.byteCount).toBe(0);
    expect(tp.proxy.stats()).toMatchObject({ clientSockets: 1, liveSessions: 1 });

    u.socket.write(switchingHead(u.key));
    const res = await readResponse(client);
    expect(res.status).toBe(101);
    await until(() => u.byteCount >= payload.length, 'every early byte at the backend', 15_000);
    expect(u.byteCount).toBe(payload.length);
    expect(Buffer.concat(u.data).equals(payload)).toBe(true);
    const s = await tp.nextHandshake(1);
    expect(s.outcome).toBe('tunnel');

    client.end();
    u.socket.end();
    await expectHealthy(tp);
  }, 30_000);
});
