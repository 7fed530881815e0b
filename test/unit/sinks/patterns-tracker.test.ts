/**
 * The pattern tracker's core (sinks/patterns.ts) on a clock of its own: what it must not call
 * a pattern (cases found in review): sessions cut at one moment by a restart, tabs open side by
 * side, "2" and "3" on a session that is not engine.io, wstap's own shutdown; and what it must.
 */
import { describe, expect, it } from 'vitest';
import type { CloseSummary } from '../../../src/session/summary.js';
import { PatternTracker, type TrackedEnd, type TrackedOpen } from '../../../src/sinks/patterns.js';
import type { PatternView } from '../../../src/views/views.js';

const open = (path = '/ws', port = 5000): TrackedOpen => ({
  client: `10.0.0.5:${port}`,
  origins: ['http://localhost:3000'],
  path,
  userAgent: 'test',
  outcome: 'tunnel',
  status: 101,
});
const close = (code: number, initiator: CloseSummary['initiator'], durationMs: number, how: TrackedEnd['how'] = 'fin'): TrackedEnd => ({
  how,
  durationMs,
  close: { code, initiator, reason: code === 1008 ? 'Authentication required' : '', meaning: '', clean: false },
});

function tracker(): { t: PatternTracker; got: PatternView[] } {
  const got: PatternView[] = [];
  return { t: new PatternTracker([{ name: 'test', pattern: (p) => got.push(p) }]), got };
}

describe('the pattern tracker', () => {
  it('sessions cut at one moment (a restart) after the same silence are not an idle timeout; cut at different moments, they are', () => {
    const { t, got } = tracker();
    // Three chatty sessions, each 0.3 s quiet, all closed by the server with 1001 at t=10 s.
    for (const [i, id] of ['a', 'b', 'c'].entries()) {
      t.open(id, open('/ws', 5000 + i), 0);
      t.activity(id, 'text', 'server', 9700);
      t.close(id, close(1001, 'server', 10_000));
    }
    expect(got).toEqual([]);
    // Sixty seconds of silence, cut at two different moments: a timeout met twice.
    for (const [i, id] of ['d', 'e'].entries()) {
      t.open(id, open('/ws', 6000 + i), 100_000 + i * 5000);
      t.activity(id, 'text', 'server', 100_000 + i * 5000 + 10);
      t.close(id, close(1006, 'none', 60_010));
    }
    expect(got.map((p) => p.finding.code)).toEqual(['idle-timeout']);
  });

  it('tabs open side by side and cut together are not a reconnect loop; one after the other, they are', () => {
    const { t, got } = tracker();
    for (const [i, id] of ['a', 'b', 'c'].entries()) t.open(id, open('/ws', 5000 + i), i * 10);
    for (const id of ['a', 'b', 'c']) t.close(id, close(1006, 'none', 40_000));
    expect(got).toEqual([]);
    for (const [i, id] of ['d', 'e', 'f'].entries()) {
      t.open(id, open('/ws', 6000 + i), 100_000 + i * 200);
      t.close(id, close(1008, 'server', 50));
    }
    expect(got.map((p) => p.finding.code)).toEqual(['reconnect-loop']);
    expect(got[0]!.finding.message).toContain('opened 3 sessions in 400 ms');
  });

  it('"2" and "3" are engine.io heartbeats only on an engine.io session', () => {
    const { t, got } = tracker();
    t.open('counter', open('/live'), 0);
    for (let i = 1; i <= 3; i++)
      t.activity('counter', 'text', 'server', i * 4000, { beat: 'ping', via: 'Socket.IO/engine.io pings ("2")', engineIo: true });
    t.close('counter', close(1006, 'none', 13_000));
    expect(got.filter((p) => p.finding.code === 'heartbeat-missed')).toEqual([]);
    t.open('eio', open('/socket.io/?EIO=4&transport=websocket'), 20_000);
    for (let i = 1; i <= 3; i++)
      t.activity('eio', 'text', 'server', 20_000 + i * 4000, { beat: 'ping', via: 'Socket.IO/engine.io pings ("2")', engineIo: true });
    t.close('eio', close(1006, 'none', 13_000));
    expect(got.filter((p) => p.finding.code === 'heartbeat-missed')).toHaveLength(1);
  });

  it("wstap's own ends (its shutdown, a close from a rule or the API) are no pattern", () => {
    const { t, got } = tracker();
    for (const [i, id] of ['a', 'b', 'c', 'd'].entries()) {
      t.open(id, open('/ws', 5000 + i), i * 100);
      t.close(id, close(1001, 'wstap', 50, 'shutdown'));
    }
    expect(got).toEqual([]);
  });
});
