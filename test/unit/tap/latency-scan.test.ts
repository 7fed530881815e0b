/**
 * The correlation ids read by the latency tracker's JSON scanner are those of
 * JSON.parse: the same documents pair, with the same keys, under every kind of path.
 */
import { describe, expect, it } from 'vitest';
import { ID_KEYS, LatencyTracker } from '../../../src/tap/latency.js';
import { parseValuePath } from '../../../src/wire/json-path.js';
import type { WsMessage } from '../../../src/session/message.js';

const DOCS = [
  '{"id":1}',
  '{"id":"a"}',
  '{"id":1.0}',
  '{"id":1e2}',
  '{"id":-0}',
  '{"id":01}',
  '{"id":1x}',
  '{"id":"a\\"b"}',
  '{"id":"\\u0041"}',
  '{ "id" : 7 , "x":[1,2,{"id":9}]}',
  '{"x":{"id":3},"id":4}',
  '{"id":1,"id":2}',
  '{"id":true}',
  '{"id":null}',
  '{"id":{}}',
  '[1,2]',
  '[{"id":1}]',
  '{"id":1} x',
  '{"id":1',
  '{"i\\u0064":5}',
  '{"data":"}]{[\\\\","id":"q"}',
  '{"requestId":"r","id":{}}',
  '{"msgId":3,"ref":"x"}',
  '{"id":"é"}',
  '{"meta":{"requestId":"a1"},"id":1}',
  '{"meta":{"requestId":"a1","requestId":"a2"}}',
  '{"meta":[{"requestId":1}]}',
  '{"meta":{"0":{"requestId":"k"}}}',
  '{"a":"\\\\"}',
  '{}',
  '{"type":"update","data":{"nested":[{"id":5}],"s":"]"},"nonce":"n-1"}',
];

/** What the tracker did before the scanner: JSON.parse, then a lookup. */
function parsedKey(text: string, path: (string | number)[]): string | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
}

function msg(from: WsMessage['from'], text: string, at: number): WsMessage {
  const data = Buffer.from(text);
  return {
    from,
    kind: 'text',
    opcode: 1,
    data,
    size: data.length,
    wireSize: data.length + 2,
    compressed: false,
    frames: 1,
    firstByteAt: at,
    lastByteAt: at,
    truncated: false,
  };
}

/** The key that the tracker pairs a response by, and the correlation it settled on. */
function paired(text: string, correlate?: string): { key: string | undefined; correlation: string | undefined } {
  const t = new LatencyTracker(correlate);
  t.observe(msg('client', text, 0));
  const latency = t.observe(msg('server', text, 1));
  return { key: latency?.key, correlation: t.correlation };
}

describe('latency: ids read without parsing the message', () => {
  it.each(['id', '$.meta.requestId', '$.meta[0].requestId', '$.meta[0]'])('path %s: the key JSON.parse gives', (path) => {
    for (const doc of DOCS) expect([doc, paired(doc, path)]).toEqual([doc, { key: parsedKey(doc, parseValuePath(path).steps), correlation: path }]);
  });

  it('automatic detection finds the id key JSON.parse finds', () => {
    for (const doc of DOCS) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(doc);
      } catch {
        parsed = undefined;
      }
      const isObject = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed);
      const k = isObject ? ID_KEYS.find((key) => parsedKey(doc, [key]) !== undefined) : undefined;
      expect([doc, paired(doc)]).toEqual([doc, { key: k === undefined ? undefined : parsedKey(doc, [k]), correlation: k }]);
    }
  });
});
