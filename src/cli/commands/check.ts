/**
 * The `wstap check` command: options, then runCheck, then the report (text, or JSON
 * with --json) and the exit code: 0 healthy, 1 a step failed, 2 a usage error.
 */
import { readFileSync } from 'node:fs';
import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { parseMs } from '../options.js';
import { COLORS, NO_COLORS } from '../../log/pretty.js';
import { redactDeep } from '../../secrets/free-text.js';
import { redactTarget } from '../../secrets/redact.js';
import { diagnoseEnv, parseEnvFile } from '../../inspect/registry.js';
import { action, UsageError } from '../errors.js';
import { formatHeader, formatOrigins, formatStep, formatSummary } from '../../check/format.js';
import { ORIGIN_PRESETS, parseOriginList } from '../../check/origins.js';
import { type CheckUrlError, parseCheckUrl, runCheck, type CheckOptions } from '../../check/run-check.js';

interface CheckCliOptions {
  origin?: string[];
  header?: [string, string][];
  subprotocol?: string[];
  health?: string;
  linger: number;
  send?: string;
  origins?: string[];
  dotenv?: string;
  envFile?: string;
  timeout: number;
  insecure?: boolean;
  json?: boolean;
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const NO_CONTROL = /^[^\r\n\0]*$/;

function checkUrl(value: string): string {
  try {
    parseCheckUrl(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

function collectOriginLine(value: string, previous: string[] | undefined): string[] {
  if (!value.trim() || !NO_CONTROL.test(value)) throw new InvalidArgumentError('an Origin is one line, e.g. http://localhost:3000.');
  return [...(previous ?? []), value.trim()];
}

function collectHeader(value: string, previous: [string, string][] | undefined): [string, string][] {
  const colon = value.indexOf(':');
  const name = colon > 0 ? value.slice(0, colon).trim() : '';
  const v = colon > 0 ? value.slice(colon + 1).trim() : '';
  if (!HEADER_NAME.test(name) || !NO_CONTROL.test(v)) throw new InvalidArgumentError(`"${value}" is not a header line: expected "Name: value".`);
  return [...(previous ?? []), [name, v]];
}

function collectList(value: string, previous: string[] | undefined): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0 || items.some((s) => !HEADER_NAME.test(s)))
    throw new InvalidArgumentError(`"${value}" is not a subprotocol name (a token such as chat or graphql-ws).`);
  return [...(previous ?? []), ...items];
}

function collectOrigins(value: string, previous: string[] | undefined): string[] {
  try {
    return [...new Set([...(previous ?? []), ...parseOriginList(value)])];
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function healthPath(value: string): string {
  if (/^https?:\/\//i.test(value) || value.startsWith('/')) return value;
  throw new InvalidArgumentError('a health path starts with / (e.g. /health), or is a full http:// URL.');
}

export function checkCommand(): Command {
  const cmd = new Command('check')
    .description(
      'diagnose a WebSocket endpoint step by step: resolve, connect, health, handshake, immediate close, a reply; exit 0 healthy, 1 failed, 2 usage',
    )
    .addArgument(
      new Argument('[ws-url]', 'the endpoint, e.g. ws://localhost:8000/ws (default: NEXT_PUBLIC_WS_URL from --dotenv)').argParser(checkUrl),
    )
    .addOption(
      new Option('--origin <origin>', 'send this Origin, as a browser does; repeat it to send several Origin lines').argParser(collectOriginLine),
    )
    .addOption(
      new Option('-H, --header <line>', 'an extra header line, "Name: value", repeatable (e.g. "Authorization: Bearer ...")').argParser(
        collectHeader,
      ),
    )
    .addOption(
      new Option('--subprotocol <name>', 'offer a subprotocol (Sec-WebSocket-Protocol), repeatable or comma-separated').argParser(collectList),
    )
    .addOption(
      new Option('--health <path>', 'GET this path on the same host and port first (e.g. /health), or a full http:// URL').argParser(healthPath),
    )
    .addOption(
      new Option('--linger <ms>', 'watch the open connection this long for an immediate close (1008 from an auth check)')
        .default(1000)
        .argParser(parseMs),
    )
    .addOption(new Option('--send <text>', 'send this text message once open; report the reply and its latency'))
    .addOption(
      new Option(
        '--origins <list>',
        `probe each Origin and list the ones the backend accepts: comma-separated origins or a preset (${Object.keys(ORIGIN_PRESETS).join(', ')})`,
      ).argParser(collectOrigins),
    )
    .addOption(
      new Option(
        '--dotenv <file>',
        "check the guide's variables (NEXT_PUBLIC_WS_URL, NEXT_PUBLIC_API_URL, NEXT_PUBLIC_WEBSOCKET_URL, auth bypass, ENVIRONMENT) in a .env file",
      ),
    )
    // The option's first name. Node 20 reads --env-file itself wherever it appears (it loads the
    // file into wstap's environment, and stops with exit 9 when the file is missing): --dotenv avoids that.
    .addOption(new Option('--env-file <file>', 'the same as --dotenv (Node 20 also reads this name itself)').hideHelp())
    .addOption(new Option('--timeout <ms>', 'time allowed for each step (connection, answer, reply)').default(5000).argParser(parseMs))
    .addOption(new Option('--insecure', 'accept any TLS certificate (wss:// or https:// with a self-signed certificate)'))
    .addOption(new Option('--json', 'print one JSON object (for CI) instead of the report'))
    .addHelpText(
      'after',
      `
Examples:
  wstap check ws://localhost:8000/ws --origin http://localhost:3000 --health /health
  wstap check ws://localhost:8000/ws --origins docker-dev
  wstap check ws://localhost:8000/ws?token=... --send '{"type":"ping"}' --json
  wstap check --dotenv frontend/.env.local --origin http://localhost:3000

Exit status: 0 when every step passed (warnings allowed), 1 when a step failed, 2 on a usage error.`,
    );
  cmd.action(action(runCheckCommand));
  return cmd;
}

/** The options of runCheck from the command line (a --dotenv file read, its URL used when none is given). */
function checkOptionsFrom(url: string | undefined, opts: CheckCliOptions): CheckOptions {
  const options: CheckOptions = {
    url: url ?? '',
    lingerMs: opts.linger,
    timeoutMs: opts.timeout,
    insecure: opts.insecure ?? false,
    origins: opts.origin ?? [],
    headers: opts.header ?? [],
    subprotocols: opts.subprotocol ?? [],
  };
  if (opts.health) options.health = opts.health;
  if (opts.send !== undefined) options.send = opts.send;
  if (opts.origins) options.originProbes = opts.origins;
  const envFile = opts.dotenv ?? opts.envFile;
  if (envFile) {
    const flag = opts.dotenv ? '--dotenv' : '--env-file';
    let text: string;
    try {
      text = readFileSync(envFile, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read ${flag} ${envFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const vars = parseEnvFile(text);
    options.env = { source: envFile, vars };
    if (!url) {
      const fromFile = diagnoseEnv(vars).wsUrl;
      if (!fromFile) throw new UsageError(`no ws-url given and ${envFile} sets neither NEXT_PUBLIC_WS_URL nor NEXT_PUBLIC_WEBSOCKET_URL.`);
      try {
        parseCheckUrl(fromFile);
      } catch (err) {
        throw new UsageError(`the WebSocket URL in ${envFile}: ${(err as CheckUrlError).message}`);
      }
      options.url = fromFile;
    }
  }
  if (!options.url)
    throw new UsageError('wstap check needs a WebSocket URL (wstap check ws://localhost:8000/ws) or a --dotenv file that sets NEXT_PUBLIC_WS_URL.');
  return options;
}

async function runCheckCommand(url: string | undefined, opts: CheckCliOptions): Promise<number> {
  const options = checkOptionsFrom(url, opts);

  const tty = process.stdout.isTTY && !process.env['NO_COLOR'];
  const p = tty ? COLORS : NO_COLORS;
  const write = (s: string): void => void process.stdout.write(`${s}\n`);
  if (!opts.json) {
    write(formatHeader(redactTarget(parseCheckUrl(options.url).href), p));
    // What check prints quotes the backend (close reasons, bodies, error texts): each step passes the redaction step.
    options.onStep = (s) => {
      if (s.name !== 'origins') write(formatStep(redactDeep(s), p));
    };
  }
  const result = redactDeep(await runCheck(options));
  let out: string;
  if (opts.json) out = `${JSON.stringify(result, null, 2)}\n`;
  else {
    const lines: string[] = [];
    const origins = result.steps.find((s) => s.name === 'origins');
    if (origins) lines.push(formatStep(origins, p));
    if (result.origins) lines.push(formatOrigins(result.origins, p));
    lines.push(formatSummary(result, p));
    out = `${lines.join('\n')}\n`;
  }
  await new Promise<void>((resolve) => process.stdout.write(out, () => resolve()));
  return result.exitCode;
}
