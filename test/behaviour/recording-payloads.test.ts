/**
 * Payloads as recorded (issue 4): bursts and messages larger than the write buffer, texts
 * JSON must escape, binary and empty messages read back as sent; --record-payloads none
 * keeps sizes only, a byte limit keeps the first N bytes and never the start of a secret.
 * Real sockets on 127.0.0.1, ephemeral ports; the JSON Lines file is read back with the loader.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MessageEvent } from '../../src/recording/format.js';
import { loadRecording } from '../../src/recording/loader.js';
import type { PayloadMode } from '../../src/sinks/recorder.js';
import { demoBackend, echo, startWsServer } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { fakeJwt } from '../support/helpers.js';
import { ensureBuilt } from '../support/process.js';
import { closeClient, dataOf, openClient, recordingProxy } from '../support/recording.js';
import { tmpFile } from '../support/temp.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

describe('payloads as recorded', () => {
  /** A plain ws echo backend, no compression: what the client sends comes back as it was. */
  async function echoBackend(): Promise<string> {
    const { wss, url } = await startWsServer({ perMessageDeflate: false });
    wss.on('connection', echo);
    return url;
  }

  const awkward = [
    '{"id":1,"say":"\\"quoted\\" and \\\\ back"}',
    `${Array.from({ length: 32 }, (_, c) => String.fromCharCode(c)).join('')}\u007f end`,
    'é 中文 😀 \u2028 \u2029 mixed',
    '"'.repeat(300),
    `${'x'.repeat(70_000)}"tail"`,
    `{"token":"fake-${randomBytes(6).toString('hex')}","n":2}`,
    '',
  ];

  it('many messages in one burst and messages larger than the write buffer: every line whole and in order', async () => {
    const file = tmpFile();
    const tp = await recordingProxy(await echoBackend(), { file });
    const c = await openClient(tp.wsUrl('/ws'));
    // 400 texts of 2 KB sent at once (far more than one 256 KB buffer in one turn), then
    // a 600 KB text with quotes to escape and a 500 KB binary message (its base64 is 680 KB).
    const texts = Array.from({ length: 400 }, (_, i) => `{"i":${i},"s":"${'"q" '.repeat(500)}"}`);
    for (const t of texts) c.ws.send(t);
    const bigText = `{"big":"${'say \\"hi\\" '.repeat(60_000)}"}`;
    const bigBinary = randomBytes(500_000);
    c.ws.send(bigText);
    c.ws.send(bigBinary);
    await c.message(402);
    await closeClient(c);
    await tp.nextEnd();
    await tp.close();

    const rec = loadRecording(file);
    expect(rec.warnings).toEqual([]);
    for (const from of ['client', 'server']) {
      const got = dataOf(rec).filter((m) => m.from === from);
      expect(got.map((m) => m.text ?? m.base64)).toEqual([...texts, bigText, bigBinary.toString('base64')]);
    }
  });

  for (const payloads of ['full', 30] as PayloadMode[]) {
    it(`texts JSON must escape, binary and empty messages are read back as sent (--record-payloads ${payloads})`, async () => {
      const file = tmpFile();
      const tp = await recordingProxy(await echoBackend(), { file, payloads });
      const c = await openClient(tp.wsUrl('/ws'));
      for (const text of awkward) expect((await c.ask(text)).text).toBe(text);
      const bin = randomBytes(100);
      expect((await c.ask(bin)).data.equals(bin)).toBe(true);
      expect((await c.ask(Buffer.alloc(0))).data.length).toBe(0);
      await closeClient(c);
      await tp.nextEnd();
      await tp.close();

      const rec = loadRecording(file);
      expect(rec.warnings).toEqual([]);
      const limit = typeof payloads === 'number' ? payloads : Infinity;
      const cut = (text: string): string => {
        const b = Buffer.from(text.replace(/"token":"[^"]*"/, '"token":"[redacted]"'), 'utf8');
        return b.length > limit ? new TextDecoder().decode(b.subarray(0, limit)).replace(/\uFFFD+$/, '') : b.toString('utf8');
      };
      const expected: { kind: string; text?: string; base64?: string }[] = [
        ...awkward.map((t) => ({ kind: 'text', text: cut(t) })),
        { kind: 'binary', base64: bin.subarray(0, Math.min(100, limit)).toString('base64') },
        { kind: 'binary' },
      ];
      for (const from of ['client', 'server']) {
        const got = dataOf(rec)
          .filter((m) => m.from === from)
          .map(({ from: _, ...m }) => m);
        expect(got.map((m) => ({ ...m, text: m.text === '' ? undefined : m.text }))).toEqual(
          expected.map((m) => ({ ...m, text: m.text === '' ? undefined : m.text })),
        );
      }
      const messages = rec.sessions[0]!.messages.filter((m) => m.kind === 'text' || m.kind === 'binary');
      const longer = [...awkward.map((t) => Buffer.byteLength(t.replace(/"token":"[^"]*"/, '"token":"[redacted]"'))), 100, 0].filter(
        (n) => n > limit,
      ).length;
      expect(messages.filter((m) => m.truncated).length).toBe(2 * longer);
      if (typeof payloads === 'number') expect(longer).toBeGreaterThanOrEqual(4);
      // Every line is what JSON.stringify writes for its own content: no odd escapes.
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      for (const line of lines) expect(JSON.stringify(JSON.parse(line))).toBe(line);
    });
  }
});

describe('--record-payloads', () => {
  it('none: sizes are kept, payloads are not', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const tp = await recordingProxy(backend.url, { file, payloads: 'none' });
    const marker = `marker-${randomBytes(8).toString('hex')}`;
    const c = await openClient(tp.wsUrl(`/ws?token=${fakeJwt(600)}`));
    await c.ask(JSON.stringify({ marker }));
    await c.ask(Buffer.from(marker));
    await closeClient(c);
    await tp.nextEnd();
    await tp.close();

    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(marker);
    expect(text).not.toContain(Buffer.from(marker).toString('base64'));
    const rec = loadRecording(file);
    expect(rec.warnings).toEqual([]);
    expect(rec.header.payloads).toBe('none');
    const data = rec.sessions[0]!.messages.filter((m) => m.kind === 'text' || m.kind === 'binary');
    expect(data).toHaveLength(4);
    for (const m of data) {
      expect(m.omitted).toBe(true);
      expect(m.text).toBeUndefined();
      expect(m.base64).toBeUndefined();
      expect(m.size).toBeGreaterThan(0);
    }
    expect(data[0]!.size).toBe(Buffer.byteLength(JSON.stringify({ marker })));
  });

  it('a byte limit: each payload keeps its first N bytes and is marked truncated; short ones are whole', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const tp = await recordingProxy(backend.url, { file, payloads: 16 });
    const c = await openClient(tp.wsUrl(`/ws?token=${fakeJwt(600)}`));
    const long = JSON.stringify({ text: 'a'.repeat(100) });
    await c.ask(long);
    const bin = Buffer.from(Array.from({ length: 40 }, (_, i) => i));
    await c.ask(bin);
    await c.ask(Buffer.from([1, 2, 3]));
    await closeClient(c);
    await tp.nextEnd();
    await tp.close();

    const rec = loadRecording(file);
    expect(rec.header.payloads).toBe(16);
    const data = rec.sessions[0]!.messages.filter((m) => m.kind === 'text' || m.kind === 'binary');
    const [sentText, , sentBin, , sentSmall, echoedSmall] = data as [
      MessageEvent,
      MessageEvent,
      MessageEvent,
      MessageEvent,
      MessageEvent,
      MessageEvent,
    ];
    expect(sentText).toMatchObject({ text: long.slice(0, 16), truncated: true, size: long.length });
    expect(sentBin).toMatchObject({ base64: bin.subarray(0, 16).toString('base64'), truncated: true, size: 40 });
    expect(sentSmall).toMatchObject({ base64: Buffer.from([1, 2, 3]).toString('base64'), size: 3 });
    expect(sentSmall.truncated).toBeUndefined();
    expect(echoedSmall.truncated).toBeUndefined();
    for (const m of data) expect(Buffer.from(m.text ?? m.base64 ?? '', m.text !== undefined ? 'utf8' : 'base64').length).toBeLessThanOrEqual(16);
  });

  // Guards the order of redaction and cut: the whole text is redacted first and the redacted text
  // cut after, so a cut inside a secret's value (`"token":"<start of the secret>`, no closing
  // quote for the pattern to match) never writes the start of the secret.
  it('a byte limit that cuts a "token" value does not write the start of the secret', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const tp = await recordingProxy(backend.url, { file, payloads: 40 });
    const secret = `fake-secret-${randomBytes(16).toString('hex')}`;
    const c = await openClient(tp.wsUrl(`/ws?token=${fakeJwt(600)}`));
    await c.ask(JSON.stringify({ token: secret }));
    await closeClient(c);
    await tp.nextEnd();
    await tp.close();
    const text = readFileSync(file, 'utf8');
    // '{"token":"' is 10 bytes: the cut at 40 keeps 30 bytes of the secret.
    expect(text).not.toContain(secret.slice(0, 20));
  });
});
