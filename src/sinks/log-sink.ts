import type { Logger } from 'pino';
import type { SessionSink } from './bus.js';
import {
  handshakeEntry,
  handshakeLevel,
  handshakeMessage,
  messageEntry,
  messageMessage,
  PREVIEW_HEX_BYTES,
  sessionEndEntry,
  sessionEndLevel,
  sessionEndMessage,
} from '../log/entries.js';

export interface LogSinkOptions {
  /** Leave pings and pongs out of the message lines. */
  hideControl?: boolean;
  /** Only message lines whose text payload matches. */
  match?: RegExp;
}

/**
 * The annotated log: one entry per upgrade, one per closed tunnel (with the close and
 * the latency), one per message at debug level, and protocol errors as they happen.
 */
export function createLogSink(logger: Logger, opts: LogSinkOptions = {}): SessionSink {
  const debug = logger.isLevelEnabled('debug');
  const sink: SessionSink = {
    name: 'log',
    // The close summary is an info line: decoding is needed unless the log is quieter than that.
    wantsFrames: logger.isLevelEnabled('info'),
    // A debug message line shows the first bytes of a binary payload in hex.
    binaryBytes: PREVIEW_HEX_BYTES,
    handshake(session) {
      const level = handshakeLevel(session);
      if (!logger.isLevelEnabled(level)) return;
      const entry = handshakeEntry(session, debug);
      logger[level](entry, handshakeMessage(entry));
    },
    finding(session, f) {
      const level = f.severity === 'info' ? 'info' : f.severity;
      logger[level]({ event: 'finding', session: session.id, finding: f }, `${session.id} ${f.code}: ${f.message}`);
    },
    end(session, end) {
      const entry = sessionEndEntry(session, end);
      const level = sessionEndLevel(entry);
      if (!logger.isLevelEnabled(level)) return;
      logger[level](entry, sessionEndMessage(entry));
    },
  };
  // Message lines exist at debug only. Below that the sink has no message handler at all,
  // so the bus does not call it for every frame (the level is fixed when the sink is made).
  if (debug) {
    sink.message = (session, m) => {
      if (opts.hideControl && (m.kind === 'ping' || m.kind === 'pong')) return;
      if (opts.match && !(m.kind === 'text' && opts.match.test(m.data.toString('utf8')))) return;
      const entry = messageEntry(session, m);
      logger.debug(entry, messageMessage(entry));
    };
  }
  return sink;
}
