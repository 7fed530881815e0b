/**
 * Slow consumers, measured from wstap's own sockets: twice a second, each open tunnel's two
 * write sides are looked at (nothing on the forwarding path). A side whose socket has wanted a
 * drain for STUCK_MS is a reader that stopped reading; the finding goes to every sink, once
 * when found and again at 10 s and 60 s if it lasts, and anew if it stops and starts again.
 */
import { inspectSlowConsumer, STUCK_MS } from '../inspect/registry.js';
import { redactDeep } from '../secrets/free-text.js';
import type { Side } from '../session/message.js';
import type { SessionBus } from '../sinks/bus.js';
import type { LiveSession } from '../upgrade/context.js';
import type { PatternView } from '../views/views.js';

const SAMPLE_MS = 500;
/** How long a side has been stuck when it is reported (again). */
const REPORT_AT = [STUCK_MS, 10_000, 60_000];

interface Watch {
  since: number;
  read0: number;
  written0: number;
  reported: number;
}

export function watchSlowConsumers(live: ReadonlySet<LiveSession>, bus: SessionBus): () => void {
  const watches = new Map<string, Watch>();
  const timer = setInterval(() => {
    const now = performance.now();
    const seen = new Set<string>();
    for (const l of live) {
      const c = l.control;
      if (!c?.isOpen) continue;
      const { client, server } = c.sockets;
      for (const reader of ['client', 'server'] as const satisfies readonly Side[]) {
        const to = reader === 'client' ? client : server;
        const from = reader === 'client' ? server : client;
        const key = `${l.session.id} ${reader}`;
        if (!to.writableNeedDrain) {
          watches.delete(key);
          continue;
        }
        seen.add(key);
        const w = watches.get(key);
        if (!w) {
          watches.set(key, { since: now, read0: from.bytesRead, written0: to.bytesWritten - to.writableLength, reported: 0 });
          continue;
        }
        const stuckMs = now - w.since;
        const due = REPORT_AT.filter((t) => t <= stuckMs).length;
        if (due <= w.reported) continue;
        w.reported = due;
        const secs = stuckMs / 1000;
        const f = inspectSlowConsumer({
          reader,
          stuckMs,
          queuedBytes: to.writableLength,
          senderRate: (from.bytesRead - w.read0) / secs,
          readerRate: (to.bytesWritten - to.writableLength - w.written0) / secs,
        });
        if (!f) continue;
        const p: PatternView = redactDeep({
          finding: f,
          client: reader === 'client' ? `${l.session.id} (the client ${hostOf(l)})` : `${l.session.id} (the server)`,
          sessions: [l.session.id],
          ts: Date.now(),
        });
        bus.pattern(p);
      }
    }
    for (const k of watches.keys()) if (!seen.has(k)) watches.delete(k);
  }, SAMPLE_MS);
  timer.unref();
  return () => clearInterval(timer);
}

function hostOf(l: LiveSession): string {
  return `${l.session.client.address}:${l.session.client.port}`;
}
