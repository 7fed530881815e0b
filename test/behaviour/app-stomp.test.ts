/**
 * STOMP over WebSocket through wstap, with a real broker (Debian's RabbitMQ with its
 * web-stomp plugin) and a real client (@stomp/stompjs): CONNECT/CONNECTED with the
 * heart-beating negotiated, SUBSCRIBE, SEND and MESSAGE with destinations, receipts paired
 * and timed; the broker's ERROR frames (bad credentials, an unknown destination) and a client
 * that stops heart-beating are findings; the passcode never leaves wstap.
 */
import { readFileSync } from 'node:fs';
import { Client, type IMessage, type IStompSocket } from '@stomp/stompjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { appSink, codes, ended, lines, packets } from '../support/app.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { openTestProxy, type TestProxy } from '../support/helpers.js';
import { startRabbitWebStomp, type RabbitWebStomp } from '../support/peers/rabbitmq.js';
import { tmpFile } from '../support/temp.js';
import { until, withTimeout } from '../support/wait.js';

// One broker for the file (it takes seconds to start); each test its own proxy and clients.
let broker: RabbitWebStomp;
beforeAll(async () => {
  broker = await startRabbitWebStomp();
}, 90_000);
afterAll(runDeferred, 30_000);

function stompClient(url: string, login: string, passcode: string): Client {
  const client = new Client({
    // Node 20 has no global WebSocket: the ws package's.
    webSocketFactory: () => new WebSocket(url, ['v12.stomp', 'v11.stomp']) as unknown as IStompSocket,
    connectHeaders: { login, passcode },
    reconnectDelay: 0,
    heartbeatIncoming: 10_000,
    heartbeatOutgoing: 10_000,
  });
  return client;
}

async function proxy(ev: ReturnType<typeof appSink>, record?: string): Promise<TestProxy> {
  const tp = await openTestProxy({
    target: `http://127.0.0.1:${broker.port}`,
    sinks: [ev.sink],
    ...(record ? { record: { file: record, payloads: 'full' as const } } : {}),
  });
  return tp;
}

describe('STOMP over WebSocket through wstap (RabbitMQ web-stomp and @stomp/stompjs)', { timeout: 60_000 }, () => {
  it('decodes CONNECT, SUBSCRIBE, SEND and MESSAGE; pairs receipts and times them; an unknown destination is the broker ERROR it is', async () => {
    const ev = appSink();
    const file = tmpFile('stomp.jsonl');
    const tp = await proxy(ev, file);
    const client = stompClient(tp.wsUrl('/ws'), broker.user, broker.password);
    const connected = new Promise<void>((resolve, reject) => {
      client.onConnect = () => resolve();
      client.onStompError = (f) => reject(new Error(String(f.headers['message'])));
    });
    client.activate();
    await withTimeout(connected, 10_000, 'CONNECTED');
    const subscribed = new Promise<void>((r) => client.watchForReceipt('sub-1', () => r()));
    const received = new Promise<IMessage>((resolve) => client.subscribe('/queue/orders', resolve, { receipt: 'sub-1' }));
    await withTimeout(subscribed, 10_000, 'the SUBSCRIBE receipt');
    const sent = new Promise<void>((r) => client.watchForReceipt('send-1', () => r()));
    client.publish({ destination: '/queue/orders', body: '{"order":42}', headers: { receipt: 'send-1', 'content-type': 'application/json' } });
    await withTimeout(sent, 10_000, 'the SEND receipt');
    // What the subscriber gets is what was sent.
    expect((await withTimeout(received, 10_000, 'the MESSAGE')).body).toBe('{"order":42}');
    // An unknown destination: RabbitMQ answers with ERROR and closes.
    const refused = new Promise<string>((resolve) => (client.onStompError = (f) => resolve(String(f.headers['message']))));
    client.publish({ destination: '/nowhere/x', body: 'lost' });
    expect(await withTimeout(refused, 10_000, 'the ERROR frame')).toMatch(/destination/i);
    await client.deactivate();

    const session = ev.sessions[0]!;
    expect(session.app).toEqual({ protocol: 'stomp', by: 'subprotocol' });
    const end = await ended(ev, session.id);
    const seen = lines(ev, session.id).filter((l) => !l.endsWith('heart-beat'));
    expect(seen[0]).toBe('→ STOMP CONNECT (accept-version 1.2,1.1,1.0, login set, heart-beat 10000,10000)');
    expect(seen[1]).toMatch(/^← STOMP CONNECTED version 1\.2 \(heart-beat client every 10000 ms, broker every 10000 ms\)$/);
    expect(seen).toContain('→ STOMP SUBSCRIBE /queue/orders (id sub-0) [receipt sub-1]');
    expect(seen).toContain('← STOMP RECEIPT sub-1');
    expect(seen).toContain('→ STOMP SEND /queue/orders (12 bytes) [receipt send-1]');
    expect(seen).toContain('← STOMP RECEIPT send-1');
    expect(seen).toContain('← STOMP MESSAGE /queue/orders (subscription sub-0) (12 bytes)');
    expect(seen).toContainEqual(expect.stringMatching(/^← STOMP ERROR ".*destination.*"$/i));

    // Receipts answer the frames that asked for them.
    const answered = packets(ev, session.id).filter((p) => p.answers);
    expect(answered.map((p) => `${p.type} ${p.answers!.operation}`)).toEqual([
      'CONNECTED CONNECT',
      'RECEIPT SUBSCRIBE /queue/orders',
      'RECEIPT SEND /queue/orders',
    ]);
    const ops = Object.fromEntries(end.ws!.app!.operations.map((o) => [o.operation, o]));
    expect(ops['SEND /queue/orders']).toMatchObject({ count: 1, errors: 0, unanswered: 0 });
    expect(ops['SEND /queue/orders']!.latency!.count).toBe(1);
    const error = end.findings.find((f) => f.code === 'stomp-error')!;
    expect(error.message).toBe(
      `The STOMP broker sent ERROR after the client's SEND: "Unknown destination" ('/nowhere/x' is not a valid destination.).`,
    );
    expect(error.hint).toMatch(/RabbitMQ wants \/queue\/<name>/);

    // The passcode is in no output: the recording keeps the CONNECT with it masked.
    await tp.close();
    const recorded = readFileSync(file, 'utf8');
    expect(recorded).not.toContain(broker.password);
    expect(recorded).toContain(`passcode:${'*'.repeat(broker.password.length)}`);
  });

  it('bad credentials: the broker ERROR frame is stomp-error with the credentials named in the hint', async () => {
    const ev = appSink();
    const tp = await proxy(ev);
    const client = stompClient(tp.wsUrl('/ws'), broker.user, 'not-the-password');
    const refused = new Promise<string>((resolve) => (client.onStompError = (f) => resolve(String(f.headers['message']))));
    client.activate();
    defer(() => client.deactivate());
    // RabbitMQ's message header is generic; its body names the refusal.
    expect(await withTimeout(refused, 10_000, 'the ERROR frame')).toBe('Bad CONNECT');
    const session = ev.sessions[0]!;
    await until(() => codes(ev, session.id).includes('stomp-error'), 'the stomp-error finding');
    const f = ev.findings.find((x) => x.f.code === 'stomp-error')!.f;
    expect(f.message).toMatch(/^The STOMP broker sent ERROR after the client's CONNECT: "Bad CONNECT" \(Access refused for user/);
    expect(f.hint).toMatch(/login and passcode/);
    // CONNECT was answered, with an error: not an unanswered request.
    const connect = packets(ev, session.id).find((p) => p.type === 'ERROR')!;
    expect(connect.answers?.operation).toBe('CONNECT');
  });

  it('a client that stops heart-beating: stomp-heartbeat-missed with the interval and the silence', async () => {
    const ev = appSink();
    const tp = await proxy(ev);
    // A client that negotiates heart-beats every second and then sends nothing: a frozen tab.
    const ws = new WebSocket(tp.wsUrl('/ws'), ['v12.stomp']);
    defer(() => ws.terminate());
    const frames: string[] = [];
    ws.on('message', (d) => frames.push(d.toString()));
    await new Promise((r) => ws.once('open', r));
    ws.send(`CONNECT\naccept-version:1.2\nhost:/\nlogin:${broker.user}\npasscode:${broker.password}\nheart-beat:1000,0\n\n\0`);
    await until(() => frames.some((f) => f.startsWith('CONNECTED')), 'CONNECTED');
    // The broker gives up on the silent client and closes.
    await withTimeout(new Promise((r) => ws.once('close', r)), 20_000, 'the broker to close the silent client');
    const end = await ended(ev, ev.sessions[0]!.id);
    const f = end.findings.find((x) => x.code === 'stomp-heartbeat-missed')!;
    expect(f.message).toMatch(
      /^The client negotiated STOMP heart-beats every 1000 ms and then sent nothing for \d+ ms, then the connection ended\.$/,
    );
    expect(f.hint).toMatch(/paused browser tab/);
  });
});
