import type { Logger } from 'pino';
import type { SessionSink } from '../session-bus.js';
import { handshakeEntry, handshakeLevel, handshakeMessage, sessionEndEntry, sessionEndMessage } from './entries.js';

/** The annotated handshake log: one entry per upgrade, one per closed tunnel. */
export function createLogSink(logger: Logger): SessionSink {
  return {
    name: 'log',
    handshake(session) {
      const level = handshakeLevel(session);
      if (!logger.isLevelEnabled(level)) return;
      const entry = handshakeEntry(session, logger.isLevelEnabled('debug'));
      logger[level](entry, handshakeMessage(entry));
    },
    end(session, end) {
      if (!logger.isLevelEnabled('info')) return;
      const entry = sessionEndEntry(session, end);
      logger.info(entry, sessionEndMessage(entry));
    },
  };
}
