/**
 * JsonlWriter (src/recording/jsonl-writer.ts) on its own, writing real files in a temporary
 * folder: lines come out whole and in order, close() writes out everything, raw lines go in
 * through reserve/commit, and the writer stops once, with one report, at --record-max-bytes
 * (warn) or on a write error (error), dropping every later line.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JsonlWriter, type JsonlWriterOptions } from '../../../src/recording/jsonl-writer.js';
import { defer, runDeferred } from '../../support/cleanup.js';
import { tmpDir, tmpFile } from '../../support/temp.js';
import { until } from '../../support/wait.js';

afterEach(runDeferred);

interface Stop {
  why: string;
  bytes: number;
  level: 'error' | 'warn';
}

/** A writer to `file` whose stop reports are collected; closed after the test. */
function writer(file: string, opts: Omit<JsonlWriterOptions, 'file' | 'onStop'> = {}): { w: JsonlWriter; stops: Stop[] } {
  const stops: Stop[] = [];
  const w = new JsonlWriter({ file, ...opts, onStop: (why, bytes, level) => void stops.push({ why, bytes, level }) });
  defer(() => w.close());
  return { w, stops };
}

const linesOf = (file: string): string[] => readFileSync(file, 'utf8').split('\n');
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A raw line through reserve/commit, as the recorder writes its message lines. */
function writeRaw(w: JsonlWriter, line: string): void {
  const at = w.reserve(Buffer.byteLength(line));
  const end = at + w.buffer.write(line, at, 'utf8');
  w.commit(at, end);
}

describe('JsonlWriter: lines', () => {
  it('writes every value as one JSON line, in order, across turns of the event loop', async () => {
    const file = tmpFile('lines.jsonl');
    const { w, stops } = writer(file);
    const values: unknown[] = [];
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 50; i++) {
        const v = { turn, i, text: `line ${turn}.${i} "quoted" é 😀`, list: [i, null, true] };
        values.push(v);
        w.writeValue(v);
      }
      await nextTurn();
    }
    await w.close();
    const lines = linesOf(file);
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(values);
    expect(lines).toEqual(values.map((v) => JSON.stringify(v)));
    expect(w.written).toBe(statSync(file).size);
    expect(w.active).toBe(true);
    expect(stops).toEqual([]);
  });

  it('reuses written slabs without a byte of a later line landing in an earlier one (8 MB over many turns, some lines while slices are still being written)', async () => {
    const file = tmpFile('reuse.jsonl');
    const { w, stops } = writer(file);
    const expected: string[] = [];
    let n = 0;
    for (let turn = 0; turn < 160; turn++) {
      // 50 KB a turn: a 256 KB slab fills every five turns, and the stream is still writing some when the next one starts.
      for (let i = 0; i < 25; i++) {
        const v = { n: n++, fill: String.fromCharCode(97 + (n % 26)).repeat(2000) };
        expected.push(JSON.stringify(v));
        w.writeValue(v);
      }
      if (turn % 3 === 0) await new Promise((r) => setTimeout(r, 1));
      else await nextTurn();
    }
    await w.close();
    const lines = linesOf(file);
    expect(lines.pop()).toBe('');
    expect(lines.length).toBe(expected.length);
    expect(lines).toEqual(expected);
    expect(stops).toEqual([]);
  });

  it('close() writes out everything written in the same turn, lines larger than the slab and more than a slab of lines included', async () => {
    const file = tmpFile('burst.jsonl');
    const { w } = writer(file);
    const values: unknown[] = [];
    for (let i = 0; i < 2000; i++) values.push({ i, pad: 'p'.repeat(300) });
    values.push({ big: 'x'.repeat(600 * 1024) }, { after: 'the big one' }, { big: '"'.repeat(100 * 1024) });
    for (const v of values) w.writeValue(v);
    // No turn of the event loop between the writes and close().
    await w.close();
    expect(linesOf(file).slice(0, -1)).toEqual(values.map((v) => JSON.stringify(v)));
  });

  it('raw lines through reserve/commit go in order with values; a reservation larger than the slab works', async () => {
    const file = tmpFile('raw.jsonl');
    const { w } = writer(file);
    const expected: string[] = [];
    for (let i = 0; i < 100; i++) {
      const raw = `{"raw":${i},"s":"${'r'.repeat(i * 10)}"}\n`;
      writeRaw(w, raw);
      expected.push(raw.slice(0, -1));
      w.writeValue({ value: i });
      expected.push(JSON.stringify({ value: i }));
      if (i % 10 === 0) await nextTurn();
    }
    const huge = `{"huge":"${'h'.repeat(400 * 1024)}"}\n`;
    writeRaw(w, huge);
    expected.push(huge.slice(0, -1));
    writeRaw(w, '{"last":true}\n');
    expected.push('{"last":true}');
    await w.close();
    expect(linesOf(file).slice(0, -1)).toEqual(expected);
    expect(w.written).toBe(statSync(file).size);
  });

  it("flags 'a' appends to the lines already in the file", async () => {
    const file = tmpFile('append.jsonl');
    writeFileSync(file, '{"already":"there"}\n');
    const { w } = writer(file, { flags: 'a' });
    w.writeValue({ appended: 1 });
    await w.close();
    expect(linesOf(file)).toEqual(['{"already":"there"}', '{"appended":1}', '']);
  });
});

describe('JsonlWriter: stopping', () => {
  it('maxBytes: stops once with a warn at the line that would pass the limit; every later line is dropped', async () => {
    const file = tmpFile('limited.jsonl');
    const maxBytes = 1000;
    const { w, stops } = writer(file, { maxBytes });
    const line = (i: number): unknown => ({ i, pad: 'y'.repeat(80) });
    const size = Buffer.byteLength(`${JSON.stringify(line(10))}\n`);
    for (let i = 10; i < 40; i++) {
      w.writeValue(line(i));
      if (i % 5 === 0) await nextTurn();
    }
    writeRaw(w, '{"raw":"after the stop"}\n');
    await w.close();

    const fit = Math.floor(maxBytes / size);
    expect(stops).toEqual([
      {
        why: `recording to ${file} stopped at ${fit * size} bytes (--record-max-bytes ${maxBytes}); proxying goes on`,
        bytes: fit * size,
        level: 'warn',
      },
    ]);
    expect(w.active).toBe(false);
    expect(w.written).toBe(fit * size);
    // What was written is whole: the lines before the limit, nothing after it.
    const text = readFileSync(file, 'utf8');
    expect(text.length).toBe(fit * size);
    expect(text.split('\n').slice(0, -1)).toEqual(Array.from({ length: fit }, (_, k) => JSON.stringify(line(10 + k))));
  });

  it('a file in a folder that does not exist: stops once with an error that says so; writes after it are dropped quietly', async () => {
    const file = path.join(tmpDir(), 'no-such-folder', 'session.jsonl');
    const { w, stops } = writer(file);
    w.writeValue({ first: true });
    await until(() => stops.length > 0, 'the stop report', { seen: () => stops });
    for (let i = 0; i < 10; i++) w.writeValue({ i });
    writeRaw(w, '{"raw":1}\n');
    await w.close();
    await nextTurn();
    expect(stops).toHaveLength(1);
    expect(stops[0]!.level).toBe('error');
    expect(stops[0]!.why).toBe(`recording to ${file} stopped: its folder does not exist; proxying goes on`);
    expect(w.active).toBe(false);
  });

  it('a path that is a folder: stops once with an error that says so', async () => {
    const dir = path.join(tmpDir(), 'a-folder');
    mkdirSync(dir);
    const { w, stops } = writer(dir);
    w.writeValue({ first: true });
    await until(() => stops.length > 0, 'the stop report', { seen: () => stops });
    w.writeValue({ second: true });
    await w.close();
    await nextTurn();
    expect(stops).toEqual([{ why: `recording to ${dir} stopped: it is a folder; proxying goes on`, bytes: expect.any(Number), level: 'error' }]);
    expect(w.active).toBe(false);
  });
});
