/**
 * The frame tap against real ws peers on loopback: bounded memory. The tap keeps at most
 * maxMessageBytes of a message and binary payloads only as far as a sink reads them; the
 * endpoints still get everything.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { startWsServer } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { fp, isData, proxyTo, tapCaughtUp, tapSink, words } from '../support/tap.js';
import { until } from '../support/wait.js';
import { wsClient } from '../support/ws-client.js';

afterEach(runDeferred);

describe('frame tap: bounded memory', () => {
  it('keeps maxMessageBytes of a 100 KB text and a 100 KB compressed binary message, counts the rest; endpoints get everything', async () => {
    const { wss, url } = await startWsServer({ perMessageDeflate: true });
    const tap = tapSink();
    const tp = await proxyTo(url, tap, { maxMessageBytes: 1024 });
    const text = randomBytes(75 * 1024)
      .toString('base64')
      .slice(0, 100 * 1024); // 100 KB of ASCII
    const binary = Buffer.from(words(100 * 1024, 3)); // compressible
    expect(Buffer.byteLength(text)).toBe(100 * 1024);
    expect(binary.length).toBe(100 * 1024);
    const serverGot: Buffer[] = [];
    wss.on('connection', (ws) => {
      ws.on('message', (d, isBinary) => {
        serverGot.push(d as Buffer);
        // Echo: text uncompressed, binary compressed (as it came).
        ws.send(d, { binary: isBinary, compress: isBinary });
      });
    });
    const ws = wsClient(tp.wsUrl('/ws'), { perMessageDeflate: true });
    const clientGot: { data: Buffer; isBinary: boolean }[] = [];
    ws.on('message', (d, isBinary) => clientGot.push({ data: d as Buffer, isBinary }));
    await once(ws, 'open');
    ws.send(text, { compress: false });
    ws.send(binary, { binary: true, compress: true });
    await until(() => clientGot.length === 2, 'echoes', { seen: () => `${clientGot.length} echoes` });
    await tapCaughtUp(tap, 2, 2);
    ws.close(1000);
    await once(ws, 'close');
    const { end } = await tp.nextEnd();

    // The endpoints got the full messages, intact.
    expect(serverGot.map(fp)).toEqual([fp(Buffer.from(text)), fp(binary)]);
    expect(clientGot.map((g) => [g.isBinary, fp(g.data)])).toEqual([
      [false, fp(Buffer.from(text))],
      [true, fp(binary)],
    ]);
    // The tap kept the first 1024 bytes of each and counted the whole.
    const data = [...tap.msgs.filter((m) => m.from === 'client' && isData(m)), ...tap.msgs.filter((m) => m.from === 'server' && isData(m))];
    expect(data.map((m) => [m.from, m.kind, m.compressed, m.data.length, m.size, m.truncated])).toEqual([
      ['client', 'text', false, 1024, 100 * 1024, true],
      ['client', 'binary', true, 1024, 100 * 1024, true],
      ['server', 'text', false, 1024, 100 * 1024, true],
      ['server', 'binary', true, 1024, 100 * 1024, true],
    ]);
    for (const m of data) {
      const original = m.kind === 'text' ? Buffer.from(text) : binary;
      expect(m.data.equals(original.subarray(0, 1024))).toBe(true);
    }
    expect(tap.findings).toEqual([]);
    expect(end.ws!.traffic.client.payloadBytes).toBeGreaterThanOrEqual(200 * 1024);
    expect(end.ws!.traffic.server.payloadBytes).toBeGreaterThanOrEqual(200 * 1024);
  });

  it('binary payloads are kept only as far as a sink reads them (binaryBytes); text whole; sizes and endpoints untouched', async () => {
    const { wss, url } = await startWsServer({ perMessageDeflate: true });
    const tap = tapSink();
    const tp = await proxyTo(url, { ...tap, sink: { ...tap.sink, binaryBytes: 48 } });
    wss.on('connection', (ws) => ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary, compress: isBinary })));
    const plain = randomBytes(5000);
    const compressible = Buffer.from(words(8000, 5));
    const text = 'x'.repeat(3000);
    const ws = wsClient(tp.wsUrl('/ws'), { perMessageDeflate: true });
    const clientGot: Buffer[] = [];
    ws.on('message', (d) => clientGot.push(d as Buffer));
    await once(ws, 'open');
    ws.send(plain, { binary: true, compress: false });
    ws.send(compressible, { binary: true, compress: true });
    ws.send(text, { compress: false });
    await until(() => clientGot.length === 3, 'echoes', { seen: () => `${clientGot.length} echoes` });
    await tapCaughtUp(tap, 3, 3);
    expect(clientGot.map(fp)).toEqual([fp(plain), fp(compressible), fp(Buffer.from(text))]);
    const data = tap.msgs.filter((m) => m.from === 'client' && isData(m));
    expect(data.map((m) => [m.kind, m.compressed, m.data.length, m.size, m.truncated])).toEqual([
      ['binary', false, 48, 5000, false],
      ['binary', true, 48, 8000, false],
      ['text', false, 3000, 3000, false],
    ]);
    expect(data[0]!.data.equals(plain.subarray(0, 48))).toBe(true);
    expect(data[1]!.data.equals(compressible.subarray(0, 48))).toBe(true);
    expect(tap.findings).toEqual([]);
  });
});
