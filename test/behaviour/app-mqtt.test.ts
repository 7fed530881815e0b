/**
 * MQTT over WebSocket through wstap, with a real broker (Debian's mosquitto, a websockets
 * listener) and a real client (mqtt.js): CONNECT/CONNACK, SUBSCRIBE/SUBACK, PUBLISH at QoS 1
 * (PUBACK) and QoS 2 (PUBREC, PUBREL, PUBCOMP) both ways, paired by packet identifier and
 * timed per topic; a CONNECT refused for its password is a finding; the password never
 * leaves wstap (the decoded lines, the recording).
 */
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { appSink, codes, ended, lines, packets } from '../support/app.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { openTestProxy } from '../support/helpers.js';
import { startMosquitto } from '../support/peers/mosquitto.js';
import { tmpFile } from '../support/temp.js';
import { until } from '../support/wait.js';

afterEach(runDeferred);

const PASSWORD = 's3cret-mqtt-pass';

describe('MQTT over WebSocket through wstap (mosquitto and mqtt.js)', () => {
  it('decodes CONNECT, SUBSCRIBE and PUBLISH at QoS 1 and 2 both ways; pairs each flow by packet id and times it per topic', async () => {
    const broker = await startMosquitto({ allowAnonymous: false, users: { alice: PASSWORD } });
    const ev = appSink();
    const file = tmpFile('mqtt.jsonl');
    const proxy = await openTestProxy({ target: `http://127.0.0.1:${broker.port}`, sinks: [ev.sink], record: { file, payloads: 'full' } });
    const client = await mqtt.connectAsync(proxy.wsUrl('/mqtt'), {
      username: 'alice',
      password: PASSWORD,
      clientId: 'sensor-hub',
      reconnectPeriod: 0,
    });
    defer(() => client.endAsync(true));
    const got: string[] = [];
    client.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`));
    await client.subscribeAsync('sensors/#', { qos: 2 });
    await client.publishAsync('sensors/t1', '21.5', { qos: 1 });
    await client.publishAsync('sensors/t2', '19.0', { qos: 2 });
    // The broker delivers both to the subscriber: what the client gets is what it sent.
    await until(() => got.length === 2, 'the two deliveries', { seen: () => got });
    expect(got.sort()).toEqual(['sensors/t1 21.5', 'sensors/t2 19.0']);
    await client.endAsync();

    const session = ev.sessions[0]!;
    expect(session.app).toEqual({ protocol: 'mqtt', by: 'subprotocol' });
    const end = await ended(ev, session.id);
    // mqtt.js sends each field of a packet as a WebSocket message of its own: the parts are named, the whole packet decoded once.
    const all = lines(ev, session.id);
    expect(all.slice(0, 2)).toEqual(['→ MQTT CONNECT … (continues in the next message)', '→ MQTT CONNECT … (continued)']);
    const seen = all.filter((l) => !l.includes(' … ('));
    expect(seen[0]).toBe('→ MQTT CONNECT v3.1.1 client "sensor-hub" (clean, keep-alive 60 s, user set, password set)');
    expect(seen[1]).toBe('← MQTT CONNACK accepted');
    expect(seen).toContainEqual(expect.stringMatching(/^→ MQTT SUBSCRIBE sensors\/# qos2 \(id \d+\)$/));
    expect(seen).toContainEqual(expect.stringMatching(/^← MQTT SUBACK \(id \d+\) qos2$/));
    expect(seen).toContainEqual(expect.stringMatching(/^→ MQTT PUBLISH sensors\/t1 qos1 \(id \d+, 4 bytes\)$/));
    expect(seen).toContainEqual(expect.stringMatching(/^→ MQTT PUBLISH sensors\/t2 qos2 \(id \d+, 4 bytes\)$/));
    for (const t of ['PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP']) expect(seen.some((l) => l.includes(`MQTT ${t} (id `))).toBe(true);
    expect(seen.at(-1)).toBe('→ MQTT DISCONNECT');

    // Every answer on the side that was asked: the operation it answers and the time it took.
    const answered = packets(ev, session.id).filter((p) => p.answers);
    const byType = (t: string) => answered.filter((p) => p.type === t).map((p) => `${p.from} ${p.answers!.operation}`);
    expect(byType('CONNACK')).toEqual(['server CONNECT']);
    expect(byType('SUBACK')).toEqual(['server SUBSCRIBE sensors/#']);
    // QoS 1 from the client, answered by the broker; the broker's QoS 1 delivery answered by the client.
    expect(byType('PUBACK').sort()).toEqual(['client PUBLISH sensors/t1 qos1', 'server PUBLISH sensors/t1 qos1']);
    // QoS 2: timed at PUBREC (the first answer); PUBCOMP ends the flow without a second time.
    expect(byType('PUBREC').sort()).toEqual(['client PUBLISH sensors/t2 qos2', 'server PUBLISH sensors/t2 qos2']);
    expect(byType('PUBCOMP')).toEqual([]);
    const ops = Object.fromEntries(end.ws!.app!.operations.map((o) => [o.operation, o]));
    expect(ops['PUBLISH sensors/t2 qos2']).toMatchObject({ count: 2, errors: 0, unanswered: 0 });
    expect(ops['PUBLISH sensors/t2 qos2']!.latency!.count).toBe(2);
    expect(codes(ev, session.id)).toEqual([]);

    // The password is in no output: not in the decoded lines, not in the recording (its bytes masked in the CONNECT).
    await proxy.close();
    const recorded = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"base64"'))
      .map((l) => Buffer.from((JSON.parse(l) as { base64: string }).base64, 'base64'));
    const sent = Buffer.concat(recorded);
    expect(sent.includes(Buffer.from(PASSWORD))).toBe(false);
    expect(sent.includes(Buffer.from('*'.repeat(PASSWORD.length)))).toBe(true);
    expect(sent.includes(Buffer.from('sensor-hub'))).toBe(true);
    expect(seen.join('\n')).not.toContain(PASSWORD);
  });

  it('a CONNECT refused for a bad password (MQTT 5): mqtt-connack-refused with the broker’s reason code, the wrong password named first', async () => {
    const broker = await startMosquitto({ allowAnonymous: false, users: { alice: PASSWORD } });
    const ev = appSink();
    const proxy = await openTestProxy({ target: `http://127.0.0.1:${broker.port}`, sinks: [ev.sink] });
    const err = await mqtt.connectAsync(proxy.wsUrl('/mqtt'), { username: 'alice', password: 'wrong', protocolVersion: 5, reconnectPeriod: 0 }).then(
      (c) => {
        void c.endAsync(true);
        return undefined;
      },
      (e: Error & { code?: number }) => e,
    );
    // mosquitto answers a wrong password with 0x87 (not authorized), not 0x86.
    expect(err?.code).toBe(0x87);

    const session = ev.sessions[0]!;
    const end = await ended(ev, session.id);
    expect(
      lines(ev, session.id)
        .filter((l) => !l.includes(' … ('))
        .slice(0, 2),
    ).toEqual([
      expect.stringMatching(/^→ MQTT CONNECT v5 client ".*" \(clean, keep-alive 60 s, user set, password set\)$/),
      '← MQTT CONNACK refused: not authorized (0x87)',
    ]);
    const f = end.findings.find((x) => x.code === 'mqtt-connack-refused')!;
    expect(f.message).toBe('The MQTT broker refused the CONNECT: not authorized (0x87).');
    // Several causes fit: the likeliest first.
    expect(f.hint).toMatch(/^The broker refused this client, for one of these, most likely first: a wrong user name or password/);
  });
});
