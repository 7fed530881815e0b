/**
 * Option parsing shared by the commands: every option has an environment variable,
 * and a bad value is a one-line error (exit code 2).
 */
import { InvalidArgumentError, Option } from 'commander';
import { LOG_LEVELS, type LogFormat, type LogLevel } from '../log/logger.js';
import { parseOriginPattern } from '../wire/origin-pattern.js';
import { parseTarget } from '../wire/target.js';
import { parseJsonPath, parseValuePath } from '../wire/json-path.js';

export function parsePort(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) > 65535) throw new InvalidArgumentError('a port is an integer from 0 to 65535.');
  return Number(value);
}

export function parseMs(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('expected a whole number of milliseconds.');
  return Number(value);
}

export function parseBytes(value: string): number {
  const m = /^(\d+)\s*(k|kb|kib|m|mb|mib)?$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError('expected a number of bytes, e.g. 16384 or 16k.');
  const unit = (m[2] ?? '').toLowerCase();
  return Number(m[1]) * (unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1);
}

export function checkTarget(value: string): string {
  try {
    parseTarget(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

export function checkPath(value: string): string {
  try {
    parseValuePath(value);
  } catch (err) {
    throw new InvalidArgumentError(`${(err as Error).message}: expected a JSON path such as id or $.meta.requestId.`);
  }
  return value;
}

export function parseRegex(value: string): RegExp {
  try {
    return new RegExp(value);
  } catch (err) {
    throw new InvalidArgumentError(`not a regular expression: ${(err as Error).message}`);
  }
}

export function collectOrigin(value: string, previous: string[] | undefined): string[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const p of list) {
    try {
      parseOriginPattern(p);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  }
  // A value from the environment replaces the default; values on the command line add up.
  return [...(previous ?? []), ...list];
}

export function parseHosts(value: string): string[] {
  const hosts = value
    .split(',')
    .map((s) => s.trim().replace(/^\[|\]$/g, ''))
    .filter(Boolean);
  if (hosts.length === 0) throw new InvalidArgumentError('expected an address such as 127.0.0.1, ::1 or 0.0.0.0.');
  return hosts;
}

/** A boolean environment variable: 1/true/yes/on or 0/false/no/off. */
export function envFlag(name: string): boolean | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new InvalidArgumentError(`${name}=${raw} is not a boolean: use true or false.`);
}

export function defaultLogFormat(): LogFormat {
  return process.stdout.isTTY ? 'pretty' : 'json';
}

export function logOptions(): Option[] {
  return [
    new Option('--log-format <format>', 'pretty on a terminal, json (one object per line) otherwise; compact: one line per session')
      .choices(['pretty', 'json', 'compact'])
      .env('WSTAP_LOG_FORMAT'),
    new Option('--log-level <level>', 'least severe level written')
      .choices([...LOG_LEVELS])
      .default('info')
      .env('WSTAP_LOG_LEVEL'),
    new Option('-q, --quiet', 'only problems: warnings and errors (the same as --log-level warn)'),
  ];
}

export interface LogCliOptions {
  logFormat?: LogFormat;
  logLevel: LogLevel;
  quiet?: boolean;
}

/** --quiet raises the level to warn (an explicit quieter level stays). */
export function logLevelOf(opts: LogCliOptions): LogLevel {
  if (!opts.quiet) return opts.logLevel;
  const order = LOG_LEVELS as readonly string[];
  return order.indexOf(opts.logLevel) > order.indexOf('warn') ? opts.logLevel : 'warn';
}

/** An option parser from a function that throws: its message becomes commander's one-line error. */
export function parseWith<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

/** For repeatable options. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** A repeatable option whose environment variable holds a comma-separated list (WSTAP_UI_HOSTS=a,b). */
export function collectList(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean),
  ];
}

/** A whole number of at least 1 (a count). */
export function parseCount(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1) throw new InvalidArgumentError('expected a whole number of at least 1.');
  return Number(value);
}

/** --ignore: a JSON path (checked now, used by the command). */
export function collectIgnore(value: string, previous: string[] = []): string[] {
  parseWith(parseJsonPath)(value);
  return [...previous, value];
}

/** --header "Name: value", repeatable. */
export function collectHeader(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = value.indexOf(':');
  if (i <= 0) throw new InvalidArgumentError(`a header is "Name: value", not "${value}"`);
  return { ...previous, [value.slice(0, i).trim()]: value.slice(i + 1).trim() };
}

/** --secret NAME=VALUE: a value the recording redacted, by credential name (repeatable). */
export function collectSecret(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = value.indexOf('=');
  if (i <= 0)
    throw new InvalidArgumentError(`a secret is NAME=VALUE (a query parameter, header, cookie or JSON field name), not "${value.slice(0, 40)}"`);
  return { ...previous, [value.slice(0, i).trim()]: value.slice(i + 1) };
}

/** A ws:// or wss:// URL (http:// and https:// are taken as their WebSocket spellings). */
export function checkWsUrl(value: string): string {
  try {
    const u = new URL(value);
    if (u.protocol === 'http:') u.protocol = 'ws:';
    if (u.protocol === 'https:') u.protocol = 'wss:';
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new Error();
    return u.toString();
  } catch {
    throw new InvalidArgumentError('expected a ws:// or wss:// URL, such as ws://localhost:8000/ws');
  }
}
