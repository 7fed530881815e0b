/**
 * The proxy's own log lines (HTTP exchanges, client errors, upstream failures) quote the wire:
 * a path, a parser's reason, a backend's error text. The proxy logs through this wrapper, so
 * every field and message of those lines passes the one redaction step (secrets/free-text.ts),
 * whatever logger a library user hands in. The session sinks get redacted views already.
 */
import type { Logger } from 'pino';
import { redactDeep, redactText } from '../secrets/free-text.js';

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

/** An Error as a plain object, its message and stack redacted (pino would print them as they are). */
function plainError(e: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { type: e.name, message: redactText(e.message) };
  if (e.stack) out['stack'] = redactText(e.stack);
  const code = (e as NodeJS.ErrnoException).code;
  if (code !== undefined) out['code'] = code;
  return out;
}

function redactArg(a: unknown): unknown {
  if (a instanceof Error) return plainError(a);
  if (a && typeof a === 'object' && !Array.isArray(a)) {
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(a)) fields[k] = v instanceof Error ? plainError(v) : redactDeep(v);
    return fields;
  }
  return redactDeep(a);
}

const wrapped = new WeakMap<Logger, Logger>();

export function redactingLogger(logger: Logger): Logger {
  const known = wrapped.get(logger);
  if (known) return known;
  const proxy = new Proxy(logger, {
    get(target, prop) {
      if (typeof prop === 'string' && LEVELS.has(prop)) {
        const method = (target as unknown as Record<string, (...args: unknown[]) => void>)[prop]!;
        return (...args: unknown[]): void => {
          if (!target.isLevelEnabled(prop)) return;
          method.apply(target, args.map(redactArg));
        };
      }
      if (prop === 'child') return (...args: Parameters<Logger['child']>) => redactingLogger(target.child(...args) as unknown as Logger);
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  wrapped.set(logger, proxy);
  return proxy;
}
