/**
 * Comparing a message with its recording: exactly, or as JSON with ignored paths
 * ($.server_ts, $.items[*].id, $..timestamp for any depth; the grammar of wire/json-path.ts).
 * A value the recorder redacted ("[redacted]", "Bearer [redacted]") matches any value in its place.
 */
import type { MessageKind } from '../session/message.js';
import { formatPath, parseJsonPath, pathMatches, type JsonPath } from '../wire/json-path.js';
import { fitsRedacted } from './secrets.js';

export interface Compared {
  kind: MessageKind;
  payload: Buffer;
  /** The recorded payload holds only the start of the message. */
  truncated?: boolean;
}

export interface MessageDiff {
  /** JSON path of the difference ("$" for the whole message). */
  path: string;
  expected: unknown;
  actual: unknown;
}

/** A path left out of the comparison (--ignore). */
export type IgnoreRule = JsonPath;

export function parseIgnore(path: string): IgnoreRule {
  return parseJsonPath(path);
}

function diffJson(expected: unknown, actual: unknown, path: (string | number)[], ignore: readonly IgnoreRule[], out: MessageDiff[]): void {
  if (ignore.some((r) => pathMatches(r, path))) return;
  if (out.length >= 20) return;
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (Array.isArray(expected) && Array.isArray(actual)) {
    const n = Math.max(expected.length, actual.length);
    for (let i = 0; i < n; i++) diffJson(expected[i], actual[i], [...path, i], ignore, out);
    return;
  }
  if (isObj(expected) && isObj(actual)) {
    const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
    for (const k of keys) diffJson(expected[k], actual[k], [...path, k], ignore, out);
    return;
  }
  // A value the recorder redacted matches whatever stands in its place (--secret fills it before comparing).
  if (typeof expected === 'string' && typeof actual === 'string' && fitsRedacted(expected, actual)) return;
  if (JSON.stringify(expected) !== JSON.stringify(actual)) out.push({ path: formatPath(path), expected, actual });
}

function asJson(b: Buffer): { ok: true; value: unknown } | { ok: false } {
  const s = b.toString('utf8').trim();
  if (!s.startsWith('{') && !s.startsWith('[')) return { ok: false };
  try {
    return { ok: true, value: JSON.parse(s) };
  } catch {
    return { ok: false };
  }
}

/** The differences between a recorded message and one seen now; empty when they match. */
export function compareMessage(expected: Compared, actual: Compared, ignore: readonly IgnoreRule[] = []): MessageDiff[] {
  if (expected.kind !== actual.kind) return [{ path: '$', expected: `a ${expected.kind} message`, actual: `a ${actual.kind} message` }];
  if (expected.truncated) {
    // Only the recorded start can be compared.
    const head = actual.payload.subarray(0, expected.payload.length);
    return head.equals(expected.payload) ? [] : [{ path: '$', expected: show(expected), actual: show({ ...actual, payload: head }) }];
  }
  if (expected.kind === 'text') {
    const e = asJson(expected.payload);
    const a = asJson(actual.payload);
    if (e.ok && a.ok) {
      const out: MessageDiff[] = [];
      diffJson(e.value, a.value, [], ignore, out);
      return out;
    }
  }
  if (expected.payload.equals(actual.payload)) return [];
  if (expected.kind === 'text' && fitsRedacted(expected.payload.toString('utf8'), actual.payload.toString('utf8'))) return [];
  return [{ path: '$', expected: show(expected), actual: show(actual) }];
}

function show(c: Compared): string {
  if (c.kind === 'text') return c.payload.toString('utf8').slice(0, 200);
  return `${c.payload.length} bytes: ${c.payload.subarray(0, 32).toString('hex')}${c.payload.length > 32 ? '…' : ''}`;
}
