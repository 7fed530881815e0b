/**
 * The command line. Declares options and calls library functions; nothing else.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  checkPath,
  checkTarget,
  parseRegex,
  collectOrigin,
  defaultLogFormat,
  envFlag,
  logOptions,
  parseBytes,
  parseHosts,
  parseMs,
  parsePort,
  type LogCliOptions,
} from './options.js';
import { FINDING_CATALOG } from '../session/finding.js';
import { createLogger } from '../log/logger.js';
import { ListenError } from '../proxy/server.js';
import { runProxy } from './commands/proxy.js';
import { checkCommand } from './commands/check.js';
import { exportCommand, replayCommand, reportCommand, serveCommand } from './commands/recording.js';
import { parsePayloadMode, type PayloadMode } from '../sinks/recorder.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

interface ProxyCliOptions extends LogCliOptions {
  target: string;
  port: number;
  host?: string[];
  allowOrigin?: string[];
  normalizeOrigin?: boolean;
  insecure?: boolean;
  upstreamTimeout: number;
  shutdownGrace: number;
  maxHeaderSize: number;
  maxMessageSize: number;
  correlate?: string;
  record?: string;
  recordPayloads: PayloadMode;
  recordMaxBytes?: number;
  hideControl?: boolean;
  match?: RegExp;
}

function proxyCommand(name: string): Command {
  const cmd = new Command(name)
    .description('run the proxy: forward HTTP and WebSocket traffic to --target and log every upgrade, annotated')
    .addOption(new Option('--target <url>', 'the backend (http, https, ws or wss)').default('http://localhost:8000').env('WSTAP_TARGET').argParser(checkTarget))
    .addOption(new Option('-p, --port <n>', 'port to listen on').default(8001).env('WSTAP_PORT').argParser(parsePort))
    .addOption(
      new Option('--host <addr>', 'address(es) to listen on, comma-separated (default: 127.0.0.1 and ::1)').env('WSTAP_HOST').argParser(parseHosts),
    )
    .addOption(
      new Option('--allow-origin <pattern>', 'an allowed Origin, repeatable; * matches a port or a subdomain label (http://localhost:*)')
        .env('WSTAP_ALLOW_ORIGINS')
        .argParser(collectOrigin),
    )
    .addOption(new Option('--normalize-origin', 'forward only the first of several Origin lines (env: WSTAP_NORMALIZE_ORIGIN)'))
    .addOption(new Option('--insecure', 'accept any TLS certificate from an https/wss target (env: WSTAP_INSECURE)'))
    .addOption(
      new Option('--upstream-timeout <ms>', 'time for the backend to accept a connection (WebSocket and HTTP) and to answer an upgrade').default(10000).env('WSTAP_UPSTREAM_TIMEOUT').argParser(parseMs),
    )
    .addOption(new Option('--shutdown-grace <ms>', 'time open sessions get on SIGINT/SIGTERM').default(5000).env('WSTAP_SHUTDOWN_GRACE').argParser(parseMs))
    .addOption(new Option('--max-header-size <bytes>', 'largest request or response head').default(16384).env('WSTAP_MAX_HEADER_SIZE').argParser(parseBytes))
    .addOption(
      new Option('--max-message-size <bytes>', 'decoded bytes kept per message (larger ones are counted and marked truncated)')
        .default(1024 * 1024, '1m')
        .env('WSTAP_MAX_MESSAGE_SIZE')
        .argParser(parseBytes),
    )
    .addOption(
      new Option('--correlate <path>', 'JSON path pairing a client message with its answer for latency (id, $.meta.requestId); detected when unset')
        .env('WSTAP_CORRELATE')
        .argParser(checkPath),
    )
    .addOption(new Option('--hide-control', 'leave pings and pongs out of the message log (env: WSTAP_HIDE_CONTROL)'))
    .addOption(new Option('--match <regex>', 'log only messages whose text matches').env('WSTAP_MATCH').argParser(parseRegex))
    .addOption(new Option('--record <file>', 'record sessions to a JSON Lines file (secrets redacted)').env('WSTAP_RECORD'))
    .addOption(
      new Option('--record-payloads <mode>', 'full, none, or the number of bytes kept per message')
        .default('full')
        .env('WSTAP_RECORD_PAYLOADS')
        .argParser((v) => {
          try {
            return parsePayloadMode(v);
          } catch (err) {
            throw new InvalidArgumentError((err as Error).message);
          }
        }),
    )
    .addOption(new Option('--record-max-bytes <bytes>', 'stop recording (with one log line) at this file size').env('WSTAP_RECORD_MAX_BYTES').argParser(parseBytes));
  for (const o of logOptions()) cmd.addOption(o);
  cmd.action(async (opts: ProxyCliOptions) => {
    const normalizeOrigin = opts.normalizeOrigin ?? envFlag('WSTAP_NORMALIZE_ORIGIN') ?? false;
    const insecure = opts.insecure ?? envFlag('WSTAP_INSECURE') ?? false;
    const log = createLogger({ format: opts.logFormat ?? defaultLogFormat(), level: opts.logLevel });
    const runOpts = {
      target: opts.target,
      port: opts.port,
      allowOrigins: opts.allowOrigin ?? [],
      normalizeOrigin,
      insecure,
      upstreamTimeoutMs: opts.upstreamTimeout,
      shutdownGraceMs: opts.shutdownGrace,
      maxHeaderSize: opts.maxHeaderSize,
      maxMessageBytes: opts.maxMessageSize,
      ...(opts.record
        ? { record: { file: opts.record, payloads: opts.recordPayloads, ...(opts.recordMaxBytes !== undefined ? { maxBytes: opts.recordMaxBytes } : {}) } }
        : {}),
      hideControl: opts.hideControl ?? envFlag('WSTAP_HIDE_CONTROL') ?? false,
      ...(opts.correlate ? { correlate: opts.correlate } : {}),
      ...(opts.match ? { match: opts.match } : {}),
      ...(opts.host ? { hosts: opts.host } : {}),
    };
    await runProxy(log, runOpts);
  });
  return cmd;
}

function findingsCommand(): Command {
  return new Command('findings')
    .description('print the table of finding codes')
    .option('--json', 'as JSON')
    .action((opts: { json?: boolean }) => {
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(FINDING_CATALOG, null, 2)}\n`);
        return;
      }
      const rows = Object.entries(FINDING_CATALOG).map(([code, f]) => `${code.padEnd(24)}${f.severity.padEnd(7)}${f.when}`);
      process.stdout.write(`${'code'.padEnd(24)}${'level'.padEnd(7)}when\n${rows.join('\n')}\n`);
    });
}

function demoCommand(): Command {
  const cmd = new Command('demo')
    .description("a built-in backend like the troubleshooting guide's, wstap in front of it, and clients that reproduce its issues")
    .option('--keep', 'keep the backend and wstap running afterwards (for a browser or wscat)')
    .addOption(new Option('-p, --port <n>', 'port for wstap (0: any free port)').default(8001).env('WSTAP_PORT').argParser(parsePort))
    .addOption(new Option('--backend-port <n>', 'port for the demo backend (0: any free port)').default(0).argParser(parsePort));
  for (const o of logOptions()) cmd.addOption(o);
  cmd.action(async (opts: LogCliOptions & { keep?: boolean; port: number; backendPort: number }) => {
    const log = createLogger({ format: opts.logFormat ?? defaultLogFormat(), level: opts.logLevel });
    const { runDemo } = await import('../demo/run-demo.js');
    await runDemo(log, { keep: opts.keep ?? false, port: opts.port, backendPort: opts.backendPort });
  });
  return cmd;
}

export function buildProgram(): Command {
  const program = new Command('wstap')
    .description('An intercepting WebSocket debugging proxy: faithful forwarding and an annotated handshake log.')
    .version(pkg.version, '-v, --version')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str.split('\n').filter(Boolean)[0] + '\n') });
  const proxy = proxyCommand('proxy');
  program.addCommand(proxy, { isDefault: true });
  program.addHelpText('after', () => `\nWithout a command, wstap runs the proxy:\n\n${proxy.helpInformation()}`);
  program.addCommand(demoCommand());
  program.addCommand(findingsCommand());
  program.addCommand(checkCommand());
  program.addCommand(replayCommand());
  program.addCommand(serveCommand());
  program.addCommand(exportCommand());
  program.addCommand(reportCommand());
  for (const c of program.commands) c.exitOverride().configureOutput({ outputError: (str, write) => write(str.split('\n').filter(Boolean)[0] + '\n') });
  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    // Thrown by wstap's own checks (environment flags): commander has not printed it.
    if (err instanceof InvalidArgumentError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof CommanderError) {
      process.exit(err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0 ? 0 : 2);
    }
    if (err instanceof ListenError) {
      process.stderr.write(`wstap: ${err.message}\n`);
      process.exit(1);
    }
    const e = err as Error & { code?: string };
    if (e?.code === 'commander.invalidArgument' || e?.name === 'InvalidArgumentError') {
      process.stderr.write(`wstap: ${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`wstap: ${e?.stack ?? String(err)}\n`);
    process.exit(1);
  }
}

await main();
