/**
 * Memory per session is bounded by bytes, not by counts: measured through a real proxy with real
 * sockets on 127.0.0.1, under the two attacks of issue 12, on the observed path (the frame tap)
 * and on the message path (a hook took the session; the tap watches what it writes).
 *
 * - fragments: a 1 MB text message sent as 1,000,000 one-byte fragments (7 MB on the wire), left
 *   open. Before: one Buffer per fragment, 110 MB retained on the tap, 322 MB on the message path.
 * - ids: 2,000 requests carrying 60 KB ids that are never answered. Before: the latency tracker
 *   kept every id, 118 MB retained.
 *
 * Retained memory is the JS heap plus external memory (Buffers) after a full garbage
 * collection, before and after, per session; the bounds are those README.md states (Limits).
 * The backend must receive exactly the bytes the client sent: the observer changes nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionSink } from '../../src/sinks/bus.js';
import type { MessageHook } from '../../src/tunnel/hooks.js';
import { MESSAGE_LIMIT } from '../../src/tunnel/message-reader.js';
import { hashingBackend } from '../support/backends.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { frame, hasHead, openTestProxy, rawClient, upgradeHead, type TestProxy } from '../support/helpers.js';
import { until } from '../support/wait.js';

afterEach(runDeferred);

// A full collection without --expose-gc on the command line (the vitest config has no execArgv).
v8.setFlagsFromString('--expose-gc');
const collect = ((globalThis as { gc?: () => void }).gc ?? vm.runInNewContext('gc')) as () => void;

/** JS heap + external memory (Buffers) after full collections. */
async function retained(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    collect();
    await new Promise((r) => setImmediate(r));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

const MiB = 1024 * 1024;
/** The proxy's default --max-message-size. */
const MAX_MESSAGE = 1 * MiB;
/** README.md: the latency tracker holds at most about 3 MiB per session (10,000 requests and 10,000 pings per side). */
const TRACKER_BOUND = 3 * MiB;
/** What a session costs besides the attack (its sockets' state, the records): generous. */
const SLACK = 1 * MiB;

interface Rig {
  tp: TestProxy;
  backend: Awaited<ReturnType<typeof hashingBackend>>;
  /** Pings seen by the hook (message path) or the tap (observed path): the proxy has read everything before them. */
  pings: () => number;
}

async function rig(path: 'tap' | 'message path'): Promise<Rig> {
  const backend = await hashingBackend();
  let tapPings = 0;
  let hookPings = 0;
  // A sink that wants frames (the tap runs) and keeps nothing.
  const sink: SessionSink = { name: 'count', wantsFrames: true, message: (_s, m) => void (m.kind === 'ping' && tapPings++) };
  const hook: MessageHook = {
    name: 'pass',
    forSession: () => (m) => {
      if (m.kind === 'ping') hookPings++;
      return undefined;
    },
  };
  const tp = await openTestProxy({ target: backend.url, sinks: [sink], ...(path === 'message path' ? { hooks: [hook] } : {}) });
  return { tp, backend, pings: () => (path === 'message path' ? hookPings : tapPings) };
}

/** A raw client through the proxy, upgraded; what it writes is hashed as it goes. */
async function client(tp: TestProxy): Promise<{ send(b: Buffer): Promise<void>; sent: () => { bytes: number; digest: string } }> {
  const c = await rawClient(tp.port);
  defer(() => c.socket.destroy());
  c.socket.write(upgradeHead('/ws'));
  await c.waitFor(hasHead);
  let bytes = 0;
  const hash = createHash('sha256');
  return {
    send: (b) => {
      bytes += b.length;
      hash.update(b);
      return c.socket.write(b) ? Promise.resolve() : new Promise((r) => c.socket.once('drain', () => r()));
    },
    sent: () => ({ bytes, digest: hash.copy().digest('hex') }),
  };
}

const SESSIONS = 2;
const FRAGMENTS = 1_000_000;

/** The backend got exactly what each client sent. */
async function forwardedExactly(r: Rig, clients: { sent: () => { bytes: number; digest: string } }[]): Promise<void> {
  const seen = (): string => r.backend.got.map((g) => g.bytes).join(', ');
  await until(() => clients.every((c, i) => (r.backend.got[i]?.bytes ?? 0) >= c.sent().bytes), 'the backend to receive every byte', {
    timeoutMs: 30_000,
    seen,
  });
  expect(r.backend.got.map((g) => ({ bytes: g.bytes, digest: g.hash.copy().digest('hex') }))).toEqual(clients.map((c) => c.sent()));
}

describe.each(['tap', 'message path'] as const)('memory per session on the %s: bounded by bytes', (path) => {
  it(`a 1 MB message as ${FRAGMENTS.toLocaleString('en')} one-byte fragments, left open`, { timeout: 120_000 }, async () => {
    const r = await rig(path);
    const clients = [];
    for (let s = 0; s < SESSIONS; s++) clients.push(await client(r.tp));
    // The continuation frames are all alike (one byte, same masking key): one block, written again and again.
    const one = frame(0, 'a', { mask: true, fin: false });
    const block = Buffer.concat(Array.from({ length: 9_000 }, () => one));
    const before = await retained();
    for (const c of clients) {
      await c.send(frame(1, 'a', { mask: true, fin: false }));
      let left = FRAGMENTS - 1;
      for (; left >= 9_000; left -= 9_000) await c.send(block);
      await c.send(block.subarray(0, left * one.length));
      // A ping inside the message: once it is seen, the proxy has read every fragment before it.
      await c.send(frame(9, 'probe', { mask: true }));
    }
    await until(() => r.pings() >= SESSIONS, 'the proxy to read every fragment', { timeoutMs: 60_000, seen: r.pings });
    r.tp.logs.length = 0;
    const perSession = ((await retained()) - before) / SESSIONS;

    const wireBytes = clients[0]!.sent().bytes;
    expect(wireBytes).toBe(FRAGMENTS * one.length + frame(9, 'probe', { mask: true }).length);
    // The tap keeps the message's text, at most --max-message-size per direction; the message path
    // holds its raw bytes and its payload (each buffer at most twice what it holds).
    const bound = path === 'tap' ? MAX_MESSAGE + SLACK : 2 * (wireBytes + FRAGMENTS) + SLACK;
    if (process.env['WSTAP_MEM_REPORT']) console.log(`${path} fragments: ${(perSession / MiB).toFixed(2)} MiB per session`);
    expect(perSession, `retained per session: ${(perSession / MiB).toFixed(1)} MiB, bound ${(bound / MiB).toFixed(1)} MiB`).toBeLessThan(bound);
    // Far below one Buffer per fragment (~100 bytes each: 100 MB and more).
    expect(perSession).toBeLessThan(FRAGMENTS * 16);

    // The message completes; everything reaches the backend as it was sent.
    for (const c of clients) await c.send(frame(0, 'a', { mask: true }));
    await forwardedExactly(r, clients);
  });

  it('2,000 unanswered requests carrying 60 KB ids', { timeout: 120_000 }, async () => {
    const r = await rig(path);
    const clients = [];
    for (let s = 0; s < SESSIONS; s++) clients.push(await client(r.tp));
    const before = await retained();
    let idBytes = 0;
    for (const c of clients) {
      for (let i = 0; i < 2_000; i++) {
        const id = randomBytes(45 * 1024).toString('base64');
        idBytes += id.length;
        await c.send(frame(1, `{"id":"${id}","op":"subscribe"}`, { mask: true }));
      }
      await c.send(frame(9, 'probe', { mask: true }));
    }
    await until(() => r.pings() >= SESSIONS, 'the proxy to read every request', { timeoutMs: 60_000, seen: r.pings });
    await forwardedExactly(r, clients);
    r.tp.logs.length = 0;
    const perSession = ((await retained()) - before) / SESSIONS;
    const bound = TRACKER_BOUND + SLACK;
    if (process.env['WSTAP_MEM_REPORT']) console.log(`${path} ids: ${(perSession / MiB).toFixed(2)} MiB per session`);
    expect(perSession, `retained per session: ${(perSession / MiB).toFixed(1)} MiB, bound ${(bound / MiB).toFixed(1)} MiB`).toBeLessThan(bound);
    // The ids alone were 120 MB per session: what is kept is a small fraction of them.
    expect(perSession).toBeLessThan(idBytes / SESSIONS / 30);
  });
});

describe('memory per session on the message path: control frames inside an open message', () => {
  it('300,000 pings inside an open message: held at their cost, then it streams; every byte arrives', { timeout: 120_000 }, async () => {
    // README.md states the message path's bound with this limit.
    expect(MESSAGE_LIMIT).toBe(64 * MiB);
    const r = await rig('message path');
    const c = await client(r.tp);
    const before = await retained();
    const ping = frame(9, Buffer.alloc(0), { mask: true });
    const block = Buffer.concat(Array.from({ length: 10_000 }, () => ping));
    await c.send(frame(1, 'a', { mask: true, fin: false }));
    for (let i = 0; i < 30; i++) await c.send(block);
    // The message streamed once its pings cost MESSAGE_LIMIT (about 130,000 of them); the later ones go through with it.
    await until(() => r.backend.got[0]!.bytes >= c.sent().bytes, 'the streaming message to reach the backend', {
      timeoutMs: 60_000,
      seen: () => r.backend.got[0]!.bytes,
    });
    const held = r.pings();
    expect(held).toBeGreaterThan(100_000);
    expect(held).toBeLessThan(MESSAGE_LIMIT / 500);
    r.tp.logs.length = 0;
    const perSession = (await retained()) - before;
    if (process.env['WSTAP_MEM_REPORT']) console.log(`message path pings: ${(perSession / MiB).toFixed(2)} MiB, ${held} pings hooked`);
    // Before, 300,000 pings inside a message were 300,000 records held (about 140 MB) until it ended.
    expect(perSession).toBeLessThan(SLACK + MAX_MESSAGE);
    await c.send(frame(0, 'b', { mask: true }));
    await forwardedExactly(r, [c]);
  });
});
