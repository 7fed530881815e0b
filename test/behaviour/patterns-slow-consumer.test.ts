/**
 * A slow consumer (issue 15, part): a client upgrades through wstap and then stops reading
 * while a ws backend floods it. wstap's writes to the client wait, wstap holds the backend back
 * (backpressure), and after two seconds it says which side stopped reading, for how long, how
 * much it queued and the two rates. A client that keeps reading the same flood gets nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionSink } from '../../src/sinks/bus.js';
import type { PatternView } from '../../src/views/views.js';
import { startWsServer } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { hasHead, openRawClient, openTestProxy, upgradeHead } from '../support/helpers.js';
import { sleep, until } from '../support/wait.js';

afterEach(runDeferred);

async function rig(): Promise<{ port: number; got: PatternView[] }> {
  const backend = await startWsServer();
  const chunk = Buffer.alloc(64 * 1024, 1);
  // 48 MiB toward the client, as fast as the backend may write.
  backend.wss.on('connection', (ws) => {
    for (let i = 0; i < 768; i++) ws.send(chunk);
  });
  const got: PatternView[] = [];
  const sink: SessionSink = { name: 'test', pattern: (p) => got.push(p) };
  const tp = await openTestProxy({ target: backend.url, sinks: [sink] });
  return { port: tp.port, got };
}

describe('slow consumers', () => {
  it('a client that stops reading while the backend floods it: slow-consumer for the client, with how long, how much and the rates', async () => {
    const { port, got } = await rig();
    const raw = await openRawClient(port);
    raw.socket.write(upgradeHead('/ws'));
    await raw.waitFor(hasHead);
    raw.socket.pause();
    const p = await until(() => got.find((x) => x.finding.code === 'slow-consumer'), 'the finding', { timeoutMs: 6000 });
    expect(p.finding.message).toMatch(
      /^The client stopped reading: wstap's writes to it have waited [2-4]\.\d s with [\d.]+ (KiB|MiB|B) queued in wstap; the server sent [\d.]+ (KiB|MiB|B)\/s, the client took [\d.]+ (KiB|MiB|B)\/s\.$/,
    );
    expect(p.finding.hint).toMatch(/^The client does not read what the server sends/);
    expect(p.sessions).toEqual(['ws-1']);
    // Once, not every half second: a real-time wait (a negative) over more than two of the detector's checks.
    await sleep(1200);
    expect(got.filter((x) => x.finding.code === 'slow-consumer')).toHaveLength(1);
    raw.socket.destroy();
  });

  it('a client that reads the same flood gets nothing', async () => {
    const { port, got } = await rig();
    const raw = await openRawClient(port);
    raw.socket.write(upgradeHead('/ws'));
    await raw.waitFor((b) => b.length >= 48 * 1024 * 1024, 20_000);
    // A real-time wait for a negative: no finding comes after the flood either.
    await sleep(600);
    expect(got).toEqual([]);
    raw.socket.destroy();
  });
});
