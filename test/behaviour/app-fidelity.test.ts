/**
 * Decoding an application protocol changes nothing on the wire: raw frames of Socket.IO
 * (detected by its path), MQTT (by its subprotocol) and JSON-RPC (by its first message) go
 * through wstap byte for byte, with every observer the CLI composes attached, with and
 * without an op= rule taking the session (one that never fires); and the decoders saw them.
 */
import { afterEach, describe, it } from 'vitest';
import { MetricsSink } from '../../src/sinks/metrics.js';
import { PatternTracker } from '../../src/sinks/patterns.js';
import { SessionHistory } from '../../src/sinks/history.js';
import { appSink } from '../support/app.js';
import { runDeferred } from '../support/cleanup.js';
import { expectSameBytes, openTunnel } from '../support/fidelity.js';
import { frame, proxyInFront, startRawBackend, switchingHead, upgradeHead } from '../support/helpers.js';
import { until } from '../support/wait.js';

afterEach(runDeferred);

const mqttConnect = Buffer.from('101000044d5154540402003c0004686f7374', 'hex'); // CONNECT v3.1.1, client id "host"
const mqttConnack = Buffer.from('20020000', 'hex');
const mqttPublish = Buffer.concat([
  Buffer.from('32', 'hex'),
  Buffer.from([2 + 4 + 2 + 3]),
  Buffer.from('0004', 'hex'),
  Buffer.from('a/b1'),
  Buffer.from('0007', 'hex'),
  Buffer.from('abc'),
]);
const mqttPuback = Buffer.from('40020007', 'hex');

const CASES = [
  {
    name: 'Socket.IO',
    path: '/socket.io/?EIO=4&transport=websocket',
    extra: [] as string[],
    response: switchingHead(),
    up: [
      frame(1, '40', { mask: true }),
      frame(1, '451-["up",{"_placeholder":true,"num":0}]', { mask: true }),
      frame(2, Buffer.alloc(20_000, 1), { mask: true }),
    ],
    down: [frame(1, '40{"sid":"x"}'), frame(1, '42["news",', { fin: false }), frame(0, '{"a":1}]'), frame(1, '2')],
    expect: ['socket.io connect /', 'socket.io emit "up" (attachment 1/1, complete)', 'socket.io emit "news"'],
  },
  {
    name: 'MQTT',
    path: '/mqtt',
    extra: ['Sec-WebSocket-Protocol: mqtt'],
    response: switchingHead(undefined, ['Sec-WebSocket-Protocol: mqtt']),
    up: [
      frame(2, mqttConnect.subarray(0, 5), { mask: true }),
      frame(2, mqttConnect.subarray(5), { mask: true }),
      frame(2, mqttPublish, { mask: true }),
    ],
    down: [frame(2, mqttConnack), frame(2, mqttPuback)],
    expect: ['MQTT CONNECT v3.1.1 client "host" (clean, keep-alive 60 s)', 'MQTT PUBLISH a/b1 qos1 (id 7, 3 bytes)', 'MQTT PUBACK (id 7)'],
  },
  {
    name: 'JSON-RPC',
    path: '/rpc',
    extra: [],
    response: switchingHead(),
    up: [frame(1, '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}', { mask: true })],
    down: [frame(1, '{"jsonrpc":"2.0","id":1,"result":"0x10"}')],
    expect: ['JSON-RPC request eth_blockNumber (id 1)', 'JSON-RPC result of eth_blockNumber (id 1)'],
  },
];

describe('application protocols on the wire', () => {
  for (const c of CASES) {
    it(`${c.name}: bytes out equal bytes in, with every observer and with an op= rule that never fires; the decoder read them`, async () => {
      for (const faults of [[], ['drop op=never-this-name']]) {
        const ev = appSink();
        const history = new SessionHistory();
        const metrics = new MetricsSink({ processMetrics: false });
        const { backend, tp } = await proxyInFront(await startRawBackend(), {
          faults,
          sinks: [ev.sink, history, metrics, new PatternTracker([history, metrics])],
        });
        const { client, conn } = await openTunnel(tp, backend, upgradeHead(c.path, c.extra), c.response);
        const up = Buffer.concat(c.up);
        const down = Buffer.concat(c.down);
        const base = { up: conn.received().length, down: client.received().length };
        for (const f of c.up) client.socket.write(f);
        for (const f of c.down) conn.socket.write(f);
        expectSameBytes((await conn.waitFor((b) => b.length >= base.up + up.length)).subarray(base.up), up);
        expectSameBytes((await client.waitFor((b) => b.length >= base.down + down.length)).subarray(base.down), down);
        const seen = (): string[] => ev.msgs.flatMap((x) => (x.m.app ? [x.m.app.line] : []));
        await until(() => c.expect.every((l) => seen().includes(l)), `the ${c.name} lines`, { seen });
      }
    });
  }
});
