/**
 * The annotated log: one entry per upgrade, one per closed tunnel (with the close and the
 * latency), one per message at debug level, and protocol errors as they happen.
 */
import type { Logger } from 'pino';
import {
  handshakeEntry,
  handshakeLevel,
  handshakeMessage,
  messageEntry,
  messageMessage,
  sessionEndEntry,
  sessionEndLevel,
  sessionEndMessage,
  type ViewLink,
} from '../log/entries.js';
import { PREVIEW_HEX_BYTES } from '../views/views.js';
import type { SessionSink } from './bus.js';

export interface LogSinkOptions {
  /** Leave pings and pongs out of the message lines. */
  hideControl?: boolean;
  /** Only message lines whose text payload matches. */
  match?: RegExp;
  /** Each session's page in the live view, on its last line. */
  view?: ViewLink;
}

/** Lines at info per rule and session; the rest at debug. */
const ACTION_LINES = 3;

export function createLogSink(logger: Logger, opts: LogSinkOptions = {}): SessionSink {
  const debug = logger.isLevelEnabled('debug');
  const shown = new Map<string, number>();
  const sink: SessionSink = {
    name: 'log',
    // The close summary is an info line, and its findings (1008, 1006) are warnings: decoding is
    // needed unless the log is quieter than warn.
    wantsFrames: logger.isLevelEnabled('warn'),
    // A debug message line shows the first bytes of a binary payload in hex.
    binaryBytes: PREVIEW_HEX_BYTES,
    handshake(_session, view) {
      const level = handshakeLevel(view);
      if (!logger.isLevelEnabled(level)) return;
      const entry = handshakeEntry(view, debug);
      const link = view.outcome === 'tunnel' ? undefined : opts.view?.(view.session);
      if (link) entry.view = link;
      logger[level](entry, handshakeMessage(entry));
    },
    finding(session, f) {
      logger[f.severity]({ event: 'finding', session: session.id, finding: f }, `${session.id} ${f.code}: ${f.message}`);
    },
    pattern(p) {
      const f = p.finding;
      logger[f.severity]({ event: 'pattern', finding: f, client: p.client, sessions: p.sessions }, `${f.code}: ${f.message} fix: ${f.hint}`);
    },
    action(session, _a, view) {
      // Every action is a line; past the first few of one rule in a session, at debug (a delay on every message would flood the log).
      const key = `${session.id} ${view.by}`;
      const n = (shown.get(key) ?? 0) + 1;
      shown.set(key, n);
      const level = n <= ACTION_LINES ? 'info' : 'debug';
      if (!logger.isLevelEnabled(level)) return;
      const more = n === ACTION_LINES ? ' (more of this rule in this session at debug level; the session-end line counts them)' : '';
      logger[level]({ event: 'action', action: view }, `${view.session} altered: ${view.detail} (${view.by})${more}`);
    },
    end(session, _end, view) {
      for (const k of shown.keys()) if (k.startsWith(`${session.id} `)) shown.delete(k);
      const entry = sessionEndEntry(view);
      const level = sessionEndLevel(entry);
      if (!logger.isLevelEnabled(level)) return;
      const link = opts.view?.(view.session);
      if (link) entry.view = link;
      logger[level](entry, sessionEndMessage(entry));
    },
  };
  // Message lines exist at debug only. Below that the sink has no message handler at all,
  // so the bus does not call it for every frame (the level is fixed when the sink is made).
  if (debug) {
    sink.message = (session, m) => {
      if (opts.hideControl && (m.kind === 'ping' || m.kind === 'pong')) return;
      // --match: the text payload, or the protocol's line (an event name, an operation, a destination, a topic).
      if (opts.match && !((m.app && opts.match.test(m.app.line)) || (m.kind === 'text' && opts.match.test(m.data.toString('utf8'))))) return;
      const entry = messageEntry(session.id, m);
      logger.debug(entry, messageMessage(entry));
    };
  }
  return sink;
}
