/**
 * pino, set up once: JSON lines through an asynchronous destination (cheap, flushed
 * at shutdown), or pino-pretty in-process with wstap's own layout on a terminal.
 */
import pino, { type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import type { HandshakeLogEntry, MessageLogEntry, SessionEndLogEntry } from './entries.js';
import { COLORS, formatFindings, formatHandshake, formatMessage, formatSessionEnd, HintMemory, NO_COLORS, type Palette } from './pretty.js';
import type { Finding } from '../session/finding.js';

/** compact: the pretty layout for wstap's own lines; sessions are one line each (the CLI composes the compact sink). */
export type LogFormat = 'pretty' | 'json' | 'compact';
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  format: LogFormat;
  level: LogLevel;
  /** File descriptor or path; standard output by default. */
  destination?: number | string;
  /** Colours in pretty mode; by default when the destination is a terminal and NO_COLOR is unset. */
  colors?: boolean;
}

export interface WstapLogger {
  logger: Logger;
  /** Writes out everything buffered; safe to call at exit. */
  flush(): void;
  /** Writes out everything, in order, and closes the destination: call before process.exit. */
  close(): Promise<void>;
}

type LogObject = Record<string, unknown> & { msg?: string };

function prettyLine(log: LogObject, p: Palette, hints: HintMemory): string {
  switch (log['event']) {
    case 'handshake':
      return formatHandshake(log as unknown as HandshakeLogEntry, p, hints);
    case 'session-end':
      return formatSessionEnd(log as unknown as SessionEndLogEntry, p, hints);
    case 'message':
      return formatMessage(log as unknown as MessageLogEntry, p);
    case 'finding':
      return `${String(log['session'])}${formatFindings([log['finding'] as Finding], p, '  ', hints).replace(/^\n\s*/, ' ')}`;
    default: {
      let out = String(log.msg ?? '');
      const f = log['finding'] as Finding | undefined;
      if (f) out += formatFindings([f], p, '    ', hints);
      const hint = log['hint'];
      if (typeof hint === 'string') out += `\n    ${p.green('fix:')} ${hint}`;
      return out;
    }
  }
}

export function createLogger(opts: LoggerOptions): WstapLogger {
  const dest = opts.destination ?? 1;
  const base = { level: opts.level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  if (opts.format === 'json') {
    const stream = pino.destination({ dest, sync: false, minLength: 0 });
    const logger = pino(base, stream);
    return {
      logger,
      flush() {
        try {
          stream.flushSync();
        } catch {
          // nothing buffered, or the destination is gone
        }
      },
      close: () =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 2000);
          stream.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          stream.once('error', () => resolve());
          stream.end();
        }),
    };
  }
  const colors = opts.colors ?? (dest === 1 && process.stdout.isTTY === true && !process.env['NO_COLOR']);
  const palette = colors ? COLORS : NO_COLORS;
  const hints = new HintMemory();
  const destination = typeof dest === 'number' ? pino.destination({ dest, sync: true }) : pino.destination({ dest, sync: true, mkdir: true });
  const stream = pinoPretty({
    colorize: colors,
    translateTime: 'HH:MM:ss.l',
    ignore: 'pid,hostname',
    hideObject: true,
    singleLine: false,
    messageFormat: (log) => prettyLine(log as LogObject, palette, hints),
    destination,
    sync: true,
  });
  const logger = pino(base, stream);
  return {
    logger,
    flush() {
      try {
        destination.flushSync();
      } catch {
        // synchronous destination: nothing to flush
      }
    },
    async close() {
      // Synchronous writes: everything is out already.
    },
  };
}
