/**
 * Fault rules on real sessions (issue 14): a real ws backend, real ws clients, a real proxy.
 * Each action does what it says to what the client and the backend see, reports itself (a log
 * line, an action event, the session marked as altered) and leaves the sessions no rule takes
 * byte-faithful.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { SessionHistory, type SessionDetail } from '../../src/sinks/history.js';
import { MetricsSink } from '../../src/sinks/metrics.js';
import { PatternTracker } from '../../src/sinks/patterns.js';
import { echo, startWsServer } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { expectSameBytes, openTunnel } from '../support/fidelity.js';
import { frame, openTestProxy, proxyInFront, startRawBackend, type TestProxy } from '../support/helpers.js';
import { closeClient, openClient, type Client } from '../support/recording.js';
import { sleep, until } from '../support/wait.js';
import { tmpFile } from '../support/temp.js';
import { loadRecording } from '../../src/recording/loader.js';

afterEach(runDeferred);

async function rig(faults: string[]): Promise<{ tp: TestProxy; history: SessionHistory; server: { got: string[]; sockets: WebSocket[] } }> {
  const backend = await startWsServer();
  const server = { got: [] as string[], sockets: [] as WebSocket[] };
  backend.wss.on('connection', (ws) => {
    server.sockets.push(ws);
    ws.on('message', (d, binary) => {
      server.got.push(d.toString());
      ws.send(binary ? d : `echo ${d.toString()}`, { binary });
    });
  });
  const history = new SessionHistory();
  const tp = await openTestProxy({ target: backend.url, faults, history, sinks: [history] });
  return { tp, history, server };
}

/** Sends each text and records when each answer came back, ms after the first send. */
async function timed(c: Client, texts: string[]): Promise<{ text: string; ms: number }[]> {
  const t0 = performance.now();
  const n = c.received.length;
  const times: { text: string; ms: number }[] = [];
  c.ws.on('message', (d) => times.push({ text: d.toString(), ms: performance.now() - t0 }));
  for (const t of texts) c.ws.send(t);
  await until(() => (c.received.length >= n + texts.length ? true : undefined), 'the answers', { timeoutMs: 10_000 });
  return times;
}

const detailOf = (history: SessionHistory, id: string): SessionDetail => history.detail(id)!;

describe('fault rules', () => {
  it('delay=300ms to=client match=tick: the matching answers come 300 ms late, in order, the others at once', async () => {
    const { tp, history } = await rig(['delay=300ms to=client match=tick']);
    const c = await openClient(tp.wsUrl('/ws'));
    const times = await timed(c, ['tick 1', 'tock', 'tick 2', 'tock 2']);
    expect(times.map((t) => t.text)).toEqual(['echo tick 1', 'echo tock', 'echo tick 2', 'echo tock 2']);
    // Order is kept in the direction: the answers behind a delayed one wait for it.
    expect(times[0]!.ms).toBeGreaterThanOrEqual(295);
    expect(times[2]!.ms).toBeGreaterThanOrEqual(295);
    // A pipeline, not a queue: the second delayed answer is not 600 ms late.
    expect(times[3]!.ms - times[0]!.ms).toBeLessThan(250);
    await closeClient(c);
    await tp.nextEnd();
    const d = detailOf(history, 'ws-1');
    expect(d.summary.altered).toEqual({ delay: 2 });
    expect(d.actions.map((a) => a.detail)).toEqual([
      'delayed a 11 B text message to the client by 300 ms',
      'delayed a 11 B text message to the client by 300 ms',
    ]);
    expect(d.actions[0]!.by).toBe('rule 1: delay=300ms to=client match=tick');
  });

  it('drop to=server p=0.5 seed=7: the same messages are dropped in every session (reproducible), the others arrive', async () => {
    const { tp, history, server } = await rig(['drop to=server p=0.5 seed=7']);
    const texts = Array.from({ length: 20 }, (_, i) => `m${i}`);
    const runs: string[][] = [];
    for (let s = 0; s < 2; s++) {
      server.got.length = 0;
      const c = await openClient(tp.wsUrl('/ws'));
      for (const t of texts) c.ws.send(t);
      c.ws.send('last');
      // 'last' may itself be dropped: wait until each message has arrived or been reported dropped.
      const id = `ws-${s + 1}`;
      const dropped = (): number => (history.detail(id)?.actions ?? []).filter((a) => a.kind === 'drop').length;
      await until(
        () => server.got.length + dropped() === texts.length + 1,
        `each of the ${texts.length + 1} messages of ${id} to arrive or be dropped`,
        {
          seen: () => `${server.got.length} arrived, ${dropped()} dropped`,
        },
      );
      runs.push(server.got.filter((t) => t !== 'last'));
      await closeClient(c);
    }
    expect(runs[0]!.length).toBeGreaterThan(2);
    expect(runs[0]!.length).toBeLessThan(18);
    expect(runs[1]).toEqual(runs[0]);
  });

  it('duplicate to=server: the backend gets each message twice; close=4000:bye after=3: the client sees 4000 "bye" after the third message', async () => {
    const { tp, server } = await rig(['duplicate to=server match=dup', 'close=4000:bye after=3 path=/closing']);
    const c = await openClient(tp.wsUrl('/ws'));
    await c.ask('dup me');
    await until(() => (server.got.length >= 2 ? true : undefined), 'both copies');
    expect(server.got).toEqual(['dup me', 'dup me']);
    await closeClient(c);

    const d = await openClient(tp.wsUrl('/closing'));
    await d.ask('one');
    d.ws.send('two');
    d.ws.send('three');
    expect(await d.closed).toEqual({ code: 4000, reason: 'bye' });
  });

  it('cut after=2: both connections are reset, no close frame (the client sees 1006); the session end says wstap reset it', async () => {
    const { tp, server } = await rig(['cut after=2']);
    const c = await openClient(tp.wsUrl('/ws'));
    await c.ask('first');
    c.ws.send('second');
    expect((await c.closed).code).toBe(1006);
    const end = await tp.nextEnd();
    expect(end.end).toMatchObject({ endedBy: 'proxy', how: 'reset', altered: { cut: 1 } });
    // The close is wstap's: no finding blames either side for a 1006.
    expect(end.end.ws?.close).toMatchObject({ initiator: 'wstap', code: 1006 });
    expect(end.end.findings.map((f) => f.code)).not.toContain('close-abnormal');
    await until(() => (server.sockets[0]!.readyState === 3 ? true : undefined), 'the backend side closed');
  });

  it('close=1011:overloaded after=200ms fires on a timer, with no message; stall to=client keeps the connection open and forwards nothing more to the client', async () => {
    const { tp, history, server } = await rig(['close=1011:overloaded after=200ms path=/timed', 'stall to=client after=250ms path=/stalled']);
    const c = await openClient(tp.wsUrl('/timed'));
    expect(await c.closed).toEqual({ code: 1011, reason: 'overloaded' });

    const s = await openClient(tp.wsUrl('/stalled'));
    await s.ask('before');
    await until(() => history.detail('ws-2')?.actions.some((a) => a.kind === 'stall'), 'the stall rule to fire (after 250 ms)', {
      seen: () => history.detail('ws-2')?.actions,
    });
    s.ws.send('after');
    await until(() => (server.got.includes('after') ? true : undefined), 'the backend to get it');
    // A real-time wait for a negative: the backend's answer does not reach the stalled client.
    await sleep(300);
    // The backend answered; the client never got it, and its connection is still open.
    expect(s.received.map((r) => r.text)).toEqual(['echo before']);
    expect(s.ws.readyState).toBe(1);
  });

  it('throttle=1000B/s to=client: three 500 B answers take about a second; order kept', async () => {
    const { tp } = await rig(['throttle=1000B/s to=client']);
    const c = await openClient(tp.wsUrl('/ws'));
    const texts = ['a', 'b', 'c'].map((x) => x.repeat(495));
    const times = await timed(c, texts);
    expect(times.map((t) => t.text[5])).toEqual(['a', 'b', 'c']);
    expect(times[2]!.ms).toBeGreaterThanOrEqual(900);
  });

  it('throttle applies backpressure: wstap stops reading from the sender instead of buffering, and the sender sees its own send buffer fill', async () => {
    const { tp, server } = await rig(['throttle=10kB/s to=client']);
    const c = await openClient(tp.wsUrl('/ws'));
    await c.ask('start');
    // The backend sends 80 MiB at once toward a client that may get 10 kB a second. wstap holds at
    // most 16 MiB for a direction (HOLD_LIMIT) and the kernel's loopback buffers take some tens of
    // MiB more (tcp_rmem here: up to 32 MiB); the rest can only stay with the sender.
    const big = Buffer.alloc(64 * 1024, 7);
    for (let i = 0; i < 1280; i++) server.sockets[0]!.send(big);
    // Real time on purpose: all of it is buffered with the sender at first; after a second wstap and the
    // kernel have taken all they would, and what is still with the sender shows that wstap stopped reading.
    await sleep(1000);
    expect(server.sockets[0]!.bufferedAmount).toBeGreaterThan(16 * 1024 * 1024);
    expect(c.received.length).toBeLessThan(10);
    c.ws.terminate();
  });

  it('a recording has each action as an event and the session marked altered; it loads back', async () => {
    const backend = await startWsServer();
    backend.wss.on('connection', echo);
    const file = tmpFile('faults.jsonl');
    const tp = await openTestProxy({
      target: backend.url,
      faults: ['drop to=client match=gone', 'duplicate to=client match=twice'],
      record: { file },
    });
    const c = await openClient(tp.wsUrl('/ws'));
    c.ws.send('gone');
    await c.ask('twice');
    await closeClient(c);
    await tp.nextEnd();
    await tp.proxy.close();
    const rec = loadRecording(file);
    const s = rec.sessions[0]!;
    expect(s.actions?.map((a) => [a.kind, a.to, a.by])).toEqual([
      ['drop', 'client', 'rule 1: drop to=client match=gone'],
      ['duplicate', 'client', 'rule 2: duplicate to=client match=twice'],
    ]);
    expect(s.close?.altered).toEqual({ drop: 1, duplicate: 1 });
    // What the client got is what the recording's messages say it got.
    expect(s.messages.filter((m) => m.from === 'server' && m.kind === 'text').map((m) => m.text)).toEqual(['twice', 'twice']);
  });

  it('a session no rule takes stays byte-faithful (its path matches no rule), and so does one a rule takes that never fires, and one every observer watches', async () => {
    // The second and third runs also carry every observer the CLI composes: the history, the metrics, the pattern tracker.
    for (const faults of [['drop path=/elsewhere'], ['drop match=never-in-these-bytes'], []]) {
      const history = new SessionHistory();
      const metrics = new MetricsSink({ processMetrics: false });
      const observers =
        faults.length === 1 && faults[0]!.startsWith('drop path') ? {} : { sinks: [history, metrics, new PatternTracker([history, metrics])] };
      const { backend, tp } = await proxyInFront(await startRawBackend(), { faults, ...observers });
      const { client, conn } = await openTunnel(tp, backend);
      const fromClient = [frame(1, 'hello', { mask: true }), frame(2, randomBytes(40_000), { mask: true }), frame(9, 'ping', { mask: true })];
      const fromServer = [frame(1, 'welcome'), frame(1, 'frag-', { fin: false }), frame(10, 'pong'), frame(0, 'ment'), frame(2, randomBytes(30_000))];
      const up = Buffer.concat(fromClient);
      const down = Buffer.concat(fromServer);
      const base = { up: conn.received().length, down: client.received().length };
      for (const f of fromClient) client.socket.write(f);
      for (const f of fromServer) conn.socket.write(f);
      const gotUp = await conn.waitFor((b) => b.length >= base.up + up.length);
      const gotDown = await client.waitFor((b) => b.length >= base.down + down.length);
      expectSameBytes(gotUp.subarray(base.up), up);
      expectSameBytes(gotDown.subarray(base.down), down);
    }
  });
});

describe('the control API and the library', () => {
  const post = (tp: TestProxy, path: string, body: unknown, token?: string): Promise<Response> =>
    fetch(`http://127.0.0.1:${tp.port}/__wstap/api/${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });

  it('without the control token: 401 and nothing changes; with it: rules are added, listed, removed; a bad rule is 400 with its position', async () => {
    const { tp } = await rig([]);
    const refused = await post(tp, 'faults', { rule: 'drop' });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('Bearer');
    expect(await post(tp, 'faults', { rule: 'drop' }, 'wrong-token').then((r) => r.status)).toBe(401);
    expect(tp.proxy.faults.size).toBe(0);

    const added = await post(tp, 'faults', { rule: 'delay=50ms to=client' }, tp.proxy.controlToken);
    expect(added.status).toBe(201);
    expect(await added.json()).toEqual({ id: 1, rule: 'delay=50ms to=client' });
    const listed = (await (await fetch(`http://127.0.0.1:${tp.port}/__wstap/api/faults`)).json()) as unknown;
    expect(listed).toEqual({ faults: [{ id: 1, rule: 'delay=50ms to=client' }] });
    const bad = await post(tp, 'faults', { rule: 'drop to=nobody' }, tp.proxy.controlToken);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ position: 6, expected: 'to=client, to=server or to=both' });
    const del = (token?: string): Promise<Response> =>
      fetch(`http://127.0.0.1:${tp.port}/__wstap/api/faults/1`, { method: 'DELETE', headers: token ? { Authorization: `Bearer ${token}` } : {} });
    expect((await del()).status).toBe(401);
    expect((await del(tp.proxy.controlToken)).status).toBe(200);
    expect(tp.proxy.faults.size).toBe(0);
  });

  it('a message sent into an open session reaches each side, on the byte-faithful path and on the message path; a close with a code reaches the client', async () => {
    for (const faults of [[], ['drop match=nothing-matches-this']]) {
      const { tp, server } = await rig(faults);
      const c = await openClient(tp.wsUrl('/ws'));
      await c.ask('hello');
      const toServer = await post(tp, 'sessions/ws-1/send', { to: 'server', text: 'injected to the server' }, tp.proxy.controlToken);
      expect(toServer.status).toBe(200);
      await until(() => (server.got.includes('injected to the server') ? true : undefined), 'the backend to get it');
      const toClient = await post(
        tp,
        'sessions/ws-1/send',
        { to: 'client', binary: Buffer.from([1, 2, 3]).toString('base64') },
        tp.proxy.controlToken,
      );
      expect(toClient.status).toBe(200);
      await until(() => c.received.find((r) => r.binary && r.data.equals(Buffer.from([1, 2, 3]))), 'the client to get it');
      // The conversation goes on after the injection.
      expect((await c.ask('after')).text).toBe('echo after');
      expect((await post(tp, 'sessions/ws-1/close', { to: 'both', code: 4001, reason: 'from the api' })).status).toBe(401);
      expect((await post(tp, 'sessions/ws-1/close', { to: 'both', code: 4001, reason: 'from the api' }, tp.proxy.controlToken)).status).toBe(200);
      expect(await c.closed).toEqual({ code: 4001, reason: 'from the api' });
      const end = await tp.nextEnd();
      expect(end.end.altered).toEqual({ send: 2, close: 1 });
      // The client answered wstap's close frame: still wstap's close, with wstap's code.
      expect(end.end.ws?.close).toMatchObject({ initiator: 'wstap', code: 4001, reason: 'from the api' });
      expect((await post(tp, 'sessions/ws-1/send', { to: 'client', text: 'x' }, tp.proxy.controlToken)).status).toBe(404);
    }
  });

  it('a message sent into a byte-faithful session waits for the end of a fragmented message: it never lands between fragments', async () => {
    const history = new SessionHistory();
    const { backend, tp } = await proxyInFront(await startRawBackend(), { history, sinks: [history] });
    const { client, conn } = await openTunnel(tp, backend);
    const base = client.received().length;
    conn.socket.write(frame(1, 'part one, ', { fin: false }));
    await client.waitFor((b) => b.length >= base + 12);
    let sent = false;
    const sending = tp.proxy.send('ws-1', 'client', 'injected').then(() => (sent = true));
    // A real-time wait for a negative: the injection does not go out between the fragments.
    await sleep(200);
    expect(sent).toBe(false);
    conn.socket.write(frame(0, 'part two'));
    await sending;
    const expected = Buffer.concat([frame(1, 'part one, ', { fin: false }), frame(0, 'part two'), frame(1, 'injected')]);
    const got = await client.waitFor((b) => b.length >= base + expected.length);
    expectSameBytes(got.subarray(base), expected);
  });

  it('a body that is not a JSON object gets 400 and changes nothing', async () => {
    const { tp } = await rig([]);
    for (const body of ['{not json', '[1,2]', 'null']) {
      const r = await fetch(`http://127.0.0.1:${tp.port}/__wstap/api/faults`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${tp.proxy.controlToken}` },
        body,
      });
      expect(r.status, body).toBe(400);
      expect(((await r.json()) as { error: string }).error).toBe('wstap: the body must be a JSON object');
    }
    expect(tp.proxy.faults.size).toBe(0);
  });

  it('a body over 1 MiB gets 413 (and the connection closes), not a reset', async () => {
    const { tp } = await rig([]);
    const r = await post(tp, 'faults', { rule: `drop match=${'x'.repeat(2 * 1024 * 1024)}` }, tp.proxy.controlToken);
    expect(r.status).toBe(413);
    expect(((await r.json()) as { error: string }).error).toContain('larger than 1048576 bytes');
    expect(tp.proxy.faults.size).toBe(0);
  });

  it('a close code that is not a whole sendable number is refused with 400, and the session goes on', async () => {
    const { tp } = await rig(['drop match=never-matches']);
    const c = await openClient(tp.wsUrl('/ws'));
    for (const code of [1000.5, 1006, 5000]) {
      const r = await post(tp, 'sessions/ws-1/close', { to: 'both', code }, tp.proxy.controlToken);
      expect(r.status, String(code)).toBe(400);
    }
    expect((await c.ask('still here')).text).toBe('echo still here');
    await closeClient(c);
  });

  it('the library: fault(), send() and closeSession() on the object startProxy returns', async () => {
    const backend = await startWsServer();
    backend.wss.on('connection', echo);
    const tp = await openTestProxy({ target: backend.url });
    const id = tp.proxy.fault('drop to=client match=secret');
    expect(id).toBe(1);
    expect(() => tp.proxy.fault('drop to=nobody')).toThrow(/at 6: to=client, to=server or to=both/);
    const c = await openClient(tp.wsUrl('/ws'));
    c.ws.send('secret');
    expect((await c.ask('open')).text).toBe('open');
    await tp.proxy.send('ws-1', 'client', 'pushed');
    await until(() => c.received.find((r) => r.text === 'pushed'), 'the pushed message');
    await tp.proxy.closeSession('ws-1', 'client', 4002, 'test over');
    expect(await c.closed).toEqual({ code: 4002, reason: 'test over' });
    await expect(tp.proxy.send('ws-1', 'client', 'late')).rejects.toThrow(/no open session ws-1/);
  });
});
