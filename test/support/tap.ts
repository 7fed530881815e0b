/**
 * The frame tap in tests: a sink that collects what the tap decodes (every message and
 * every finding raised while a tunnel is open), a proxy with that sink, and ways to compare
 * payloads and to wait for the tap, which inflates in the background.
 */
import { createHash } from 'node:crypto';
import type { Finding } from '../../src/session/finding.js';
import type { WsMessage } from '../../src/session/message.js';
import type { SessionSink } from '../../src/sinks/bus.js';
import { openTestProxy, type TestProxy, type TestProxyOptions } from './helpers.js';
import { until } from './wait.js';

export interface Tap {
  msgs: WsMessage[];
  findings: Finding[];
  sink: SessionSink;
}

export function tapSink(): Tap {
  const msgs: WsMessage[] = [];
  const findings: Finding[] = [];
  return {
    msgs,
    findings,
    sink: { name: 'msgs', wantsFrames: true, message: (_s, m) => void msgs.push(m), finding: (_s, f) => void findings.push(f) },
  };
}

/** A test proxy in front of target with the tap's sink; closed after the test. */
export function proxyTo(target: string, tap: Tap, extra: Omit<TestProxyOptions, 'target' | 'sinks'> = {}): Promise<TestProxy> {
  return openTestProxy({ target, sinks: [tap.sink], ...extra });
}

/** What the tap has so far, for a wait's failure message. */
export const tapState = (tap: Tap): { msgs: string[]; findings: string[] } => ({
  msgs: tap.msgs.map((m) => `${m.from} ${m.kind} ${m.size}`),
  findings: tap.findings.map((f) => f.code),
});

/** A data message (text or binary), not a control frame. */
export const isData = (m: WsMessage): boolean => m.kind === 'text' || m.kind === 'binary';

/** Small payloads in hex, large ones as length + digest: readable diffs, fast comparisons. */
export function fp(b: Buffer): string {
  return b.length <= 64 ? b.toString('hex') : `${b.length} bytes sha256:${createHash('sha256').update(b).digest('hex').slice(0, 24)}`;
}

/** Deterministic pseudo-random words: compressible, but only with a window that reaches back. */
export function words(bytes: number, seed: number): string {
  const vocab = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima', 'mike', 'november'];
  let x = seed >>> 0 || 1;
  let out = '';
  while (out.length < bytes) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out += vocab[x % vocab.length]! + (x % 7 === 0 ? '\n' : ' ') + (x % 11 === 0 ? String(x % 1000) : '');
  }
  return out.slice(0, bytes);
}

/**
 * Waits until the tap has decoded `client` and `server` data messages. The tap inflates in
 * the background and can lag behind the endpoints; these tests let it catch up before they
 * close, so that they check the decoding of every message. The end of a session while a
 * message is still inflating is checked on its own in frame-tap-protocol.test.ts.
 */
export async function tapCaughtUp(tap: Tap, client: number, server: number): Promise<void> {
  const count = (side: 'client' | 'server'): number => tap.msgs.filter((m) => m.from === side && isData(m)).length;
  await until(() => count('client') >= client && count('server') >= server, `the tap to decode ${client} + ${server} messages`, {
    seen: () => `${count('client')} + ${count('server')}`,
  });
}
