/**
 * `wstap [proxy]`: the proxy as a process. It composes the annotated log and, with --record,
 * the recorder as sinks; prints its startup lines; and on SIGINT or SIGTERM stops accepting,
 * gives open sessions a bounded grace, flushes, and exits 0.
 */
import { parseProtocolChoice, ProtocolOptionError, type ProtocolChoice } from '../../protocols/registry.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseConditions, parseRule, RuleError, splitRules } from '../../act/rules.js';
import { UsageError } from '../errors.js';
import { formatBytes, type ViewLink } from '../../log/entries.js';
import { createLogger, type WstapLogger } from '../../log/logger.js';
import { PROXY_DEFAULTS } from '../../proxy/defaults.js';
import { startProxy, type ProxyOptions, type ProxyServer } from '../../proxy/server.js';
import { checkLocalhostInContainer, logStartup } from '../../proxy/startup.js';
import type { SessionSink } from '../../sinks/bus.js';
import { createCompactSink } from '../../sinks/compact-sink.js';
import { HISTORY_DEFAULTS, SessionHistory } from '../../sinks/history.js';
import { MetricsSink } from '../../sinks/metrics.js';
import { PatternTracker } from '../../sinks/patterns.js';
import { createLogSink } from '../../sinks/log-sink.js';
import { RunSummarySink } from '../../sinks/run-summary.js';
import { parsePayloadMode, Recorder, type PayloadMode } from '../../sinks/recorder.js';
import { WSTAP_VERSION } from '../../version.js';
import { action } from '../errors.js';
import {
  checkPath,
  checkTarget,
  collectList,
  collectOrigin,
  defaultLogFormat,
  envFlag,
  type LogCliOptions,
  logLevelOf,
  logOptions,
  parseBytes,
  parseCount,
  parseHosts,
  parseMs,
  parsePort,
  parseRegex,
  parseWith,
} from '../options.js';

interface ProxyCliOptions extends LogCliOptions {
  target: string;
  port: number;
  host?: string[];
  allowOrigin?: string[];
  normalizeOrigin?: boolean;
  insecure?: boolean;
  upstreamTimeout: number;
  headTimeout: number;
  shutdownGrace: number;
  maxHeaderSize: number;
  maxMessageSize: number;
  correlate?: string;
  protocol?: ProtocolChoice[];
  record?: string;
  recordPayloads: PayloadMode;
  recordMaxBytes?: number;
  hideControl?: boolean;
  match?: RegExp;
  /** false with --no-ui. */
  ui: boolean;
  /** false with --no-metrics. */
  metrics: boolean;
  /** false with --no-patterns. */
  patterns: boolean;
  uiHistory: number;
  uiHost?: string[];
  fault?: string[];
  controlToken?: string;
  intercept?: string[];
  interceptTimeout: number;
}

export interface RunProxyOptions extends Omit<ProxyOptions, 'logger' | 'sinks' | 'metrics' | 'history'> {
  shutdownGraceMs: number;
  /** --log-format compact: one line per session. */
  compact?: boolean;
  hideControl?: boolean;
  match?: RegExp;
  record?: { file: string; payloads: PayloadMode; maxBytes?: number };
  /** The live view's history (--ui-history messages per session), or false (--no-ui). */
  ui?: { messagesPerSession: number } | false;
  /** false with --no-metrics: no /__wstap/metrics. */
  metrics?: boolean;
  /** false with --no-patterns: no findings across sessions. */
  patterns?: boolean;
}

/** The sinks of the proxy command: the recording first (it must not wait behind the terminal), then the log. */
function sinksFor(log: WstapLogger, opts: RunProxyOptions, view: ViewLink): SessionSink[] {
  const sinks: SessionSink[] = [];
  if (opts.record) {
    const recorder = new Recorder({ ...opts.record, target: opts.target, version: WSTAP_VERSION, logger: log.logger });
    const file = opts.record.file;
    const appended = recorder.appendedTo;
    log.logger.info(
      { event: 'recording', file, appendedTo: appended },
      appended > 0 ? `recording to ${file}: a new run after the ${formatBytes(appended)} already there` : `recording to ${file}`,
    );
    sinks.push(recorder);
  }
  sinks.push(
    opts.compact
      ? createCompactSink(log.logger, view)
      : createLogSink(log.logger, { hideControl: opts.hideControl ?? false, view, ...(opts.match ? { match: opts.match } : {}) }),
  );
  return sinks;
}

/** Runs until SIGINT or SIGTERM; resolves with the exit status once everything is written. */
export async function runProxy(log: WstapLogger, opts: RunProxyOptions): Promise<number> {
  const { logger } = log;
  const { shutdownGraceMs, hideControl: _h, match: _m, record: _r, compact: _c, ui, metrics: metricsOn, patterns, ...proxyOptions } = opts;
  const summary = new RunSummarySink();
  const history = ui === false ? undefined : new SessionHistory(ui ? { messagesPerSession: ui.messagesPerSession } : {});
  // Each session's last log line links to its page in the live view (known once the port is).
  let viewBase: string | undefined;
  const view: ViewLink = (id) => (viewBase ? `${viewBase}sessions/${encodeURIComponent(id)}` : undefined);
  const metrics = metricsOn === false ? undefined : new MetricsSink();
  const outputs = [...sinksFor(log, opts, view), summary, ...(history ? [history] : []), ...(metrics ? [metrics] : [])];
  // Patterns across sessions go to the log, the recording and the live view, beside the session events.
  const sinks = patterns === false ? outputs : [...outputs, new PatternTracker(outputs)];
  const proxy = await startProxy({ ...proxyOptions, logger, sinks, ...(history ? { history } : {}), ...(metrics ? { metrics } : {}) });
  if (history) viewBase = `http://localhost:${proxy.port}/__wstap/`;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ event: 'shutdown-forced', signal }, `${signal} again: exiting now`);
        log.flush();
        process.exit(1);
      }
      stopping = true;
      logger.info({ event: 'shutdown', signal }, `${signal}: no new connections; open sessions get up to ${shutdownGraceMs} ms`);
      proxy
        .close(shutdownGraceMs)
        .then(async () => {
          logger[summary.level]({ event: 'run-summary', ...summary.result }, `run summary: ${summary.text()}`);
          logger.info({ event: 'stopped' }, 'wstap stopped');
          await log.close();
          resolve(0);
        })
        .catch(async (err: unknown) => {
          logger.error({ event: 'shutdown-failed', err: String(err) }, `shutdown failed: ${String(err)}`);
          await log.close();
          resolve(1);
        });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    // Announced only once a signal can stop it cleanly, after the container check (at most 500 ms).
    void checkLocalhostInContainer(logger, proxy.target)
      .catch(() => undefined)
      .then(() => {
        logStartup(logger, proxy, opts);
        if (history) logControlSurface(logger, proxy);
        if (metrics)
          logger.info(
            { event: 'metrics', url: `http://localhost:${proxy.port}/__wstap/metrics` },
            `Prometheus metrics: http://localhost:${proxy.port}/__wstap/metrics`,
          );
        logControl(logger, proxy, Boolean(opts.controlToken), Boolean(history));
      });
  });
}

/**
 * The control token (unless the user set it: then they know it) and the fault rules in force.
 * The token is this process's own secret for changing traffic, printed once on purpose, like a
 * notebook server's: whoever reads this terminal may act on the wire.
 */
function logControl(logger: WstapLogger['logger'], proxy: ProxyServer, given: boolean, view: boolean): void {
  const rules = proxy.faults.list();
  if (rules.length) {
    logger.info(
      { event: 'faults', faults: rules.map((e) => ({ id: e.id, rule: e.rule.text })) },
      `fault rules: ${rules.map((e) => `${e.id}: ${e.rule.text}`).join(' · ')}`,
    );
  }
  const points = proxy.breakpoints.list();
  if (points.length) {
    logger.info(
      { event: 'intercepts', intercepts: points },
      `breakpoints: ${points.map((b) => `${b.id}: ${b.conditions || '(every message)'}`).join(' · ')}; held messages: GET /__wstap/api/held`,
    );
  }
  if (given) return;
  // The fragment (#token=) never leaves the browser: the page keeps it in the tab and drops it from the address.
  const withControls = view ? `; the live view with its controls: http://localhost:${proxy.port}/__wstap/#token=${proxy.controlToken}` : '';
  logger.info(
    { event: 'control-token', controlToken: proxy.controlToken },
    `control token for /__wstap/api/ requests that change traffic (send, close, faults, breakpoints): ${proxy.controlToken}${withControls}`,
  );
}

/** Where the live view's API answers (and, when wstap listens beyond loopback, that it answers there too). */
function logControlSurface(logger: WstapLogger['logger'], proxy: ProxyServer): void {
  const url = `http://localhost:${proxy.port}/__wstap/`;
  const wide = proxy.addresses.filter((a) => !/^(127\.|::1$|::ffff:127\.)/.test(a.address));
  logger.info(
    { event: 'control-surface', url, api: `${url}api/` },
    `live view: ${url} (its API: ${url}api/sessions, events: ${url}api/events)` +
      (wide.length ? `; reachable on ${wide.map((a) => a.address).join(', ')} too (read-only, redacted)` : ''),
  );
}

/** --fault rules, then WSTAP_FAULTS (rules separated by ;), each checked. */
function faultsFrom(given: string[] | undefined): string[] | undefined {
  const env = splitRules(process.env['WSTAP_FAULTS'] ?? '');
  for (const r of env) {
    try {
      parseRule(r);
    } catch (err) {
      throw new UsageError(`WSTAP_FAULTS: ${err instanceof RuleError ? `at ${err.position}: ${err.expected} (in "${err.rule}")` : String(err)}`);
    }
  }
  const all = [...(given ?? []), ...env];
  return all.length ? all : undefined;
}

/** The live view and the metrics, on or off (flags and environment). */
function viewFrom(opts: ProxyCliOptions): Pick<RunProxyOptions, 'ui' | 'metrics' | 'patterns' | 'uiHosts'> {
  return {
    ui: opts.ui === false || envFlag('WSTAP_UI') === false ? false : { messagesPerSession: opts.uiHistory },
    metrics: !(opts.metrics === false || envFlag('WSTAP_METRICS') === false),
    patterns: !(opts.patterns === false || envFlag('WSTAP_PATTERNS') === false),
    ...(opts.uiHost ? { uiHosts: opts.uiHost } : {}),
  };
}

/** The fault rules and the control token of the command line and the environment. */
function actFrom(opts: ProxyCliOptions): { faults?: string[]; controlToken?: string; intercept?: string[]; interceptTimeoutMs: number } {
  const faults = faultsFrom(opts.fault);
  return {
    ...(faults ? { faults } : {}),
    ...(opts.controlToken ? { controlToken: opts.controlToken } : {}),
    ...(opts.intercept ? { intercept: opts.intercept } : {}),
    interceptTimeoutMs: opts.interceptTimeout,
  };
}

/** --protocol, checked when given; several separated by commas (WSTAP_PROTOCOL). */
function collectProtocol(value: string, previous: ProtocolChoice[] | undefined): ProtocolChoice[] {
  try {
    return [
      ...(previous ?? []),
      ...value
        .split(',')
        .filter((v) => v.trim())
        .map((v) => parseProtocolChoice(v.trim())),
    ];
  } catch (err) {
    throw new InvalidArgumentError(err instanceof ProtocolOptionError ? err.message : String(err));
  }
}

/** --protocol: the application protocol, forced. */
function protocolOption(): Option {
  return new Option(
    '--protocol <name>',
    'the application protocol of the sessions: socket.io, graphql-ws, subscriptions-transport-ws, stomp, mqtt, json-rpc or none; for one path prefix as /path=name (repeatable; detected when unset)',
  )
    .env('WSTAP_PROTOCOL')
    .argParser(collectProtocol);
}

/** Breakpoint conditions, checked when given. */
function collectConditions(value: string, previous: string[] | undefined): string[] {
  try {
    parseConditions(value);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof RuleError ? `at ${err.position}: ${err.expected} (in "${err.rule}")` : String(err));
  }
  return [...(previous ?? []), value];
}

/** A rule checked when it is given: a bad one stops the start with its position and what was expected. */
function collectRule(value: string, previous: string[] | undefined): string[] {
  try {
    parseRule(value);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof RuleError ? `at ${err.position}: ${err.expected} (in "${err.rule}")` : String(err));
  }
  return [...(previous ?? []), value];
}

/** Acting on the wire: fault rules and the control token. */
function actOptions(): Option[] {
  return [
    new Option(
      '--fault <rule>',
      "a fault rule, e.g. 'delay=300ms to=client match=tick', 'close=1011:overloaded after=30s', 'drop to=server p=0.2 seed=7', 'cut after=5' (repeatable; env: WSTAP_FAULTS, rules separated by ;)",
    ).argParser(collectRule),
    new Option(
      '--intercept <conditions>',
      "a breakpoint: data messages these conditions select are held until released through the API (e.g. 'to=server match=checkout'; repeatable)",
    ).argParser(collectConditions),
    new Option('--intercept-timeout <ms>', 'how long a held message waits for a release before it is forwarded as it was')
      .default(PROXY_DEFAULTS.interceptTimeoutMs)
      .env('WSTAP_INTERCEPT_TIMEOUT')
      .argParser(parseMs),
    new Option('--control-token <token>', 'the token for API requests that change traffic (random and printed at startup when unset)').env(
      'WSTAP_CONTROL_TOKEN',
    ),
  ];
}

/** The live view's options. */
function uiOptions(): Option[] {
  return [
    new Option('--no-ui', 'no live view: no history of sessions, no /__wstap/api/ (env: WSTAP_UI=false)'),
    new Option('--no-metrics', 'no Prometheus metrics at /__wstap/metrics (env: WSTAP_METRICS=false)'),
    new Option('--no-patterns', 'no findings across sessions: reconnect loops, idle timeouts, dead heartbeats (env: WSTAP_PATTERNS=false)'),
    new Option('--ui-history <messages>', 'messages the live view keeps per session (also at most 200 sessions and 16 MiB of payloads over all)')
      .default(HISTORY_DEFAULTS.messagesPerSession)
      .env('WSTAP_UI_HISTORY')
      .argParser(parseCount),
    new Option('--ui-host <name>', "a host name /__wstap/ answers to besides IP addresses, localhost and this machine's name (repeatable)")
      .env('WSTAP_UI_HOSTS')
      .argParser(collectList),
  ];
}

export function proxyCommand(name: string): Command {
  const d = PROXY_DEFAULTS;
  const cmd = new Command(name)
    .description('run the proxy: forward HTTP and WebSocket traffic to --target and log every upgrade, annotated')
    .addOption(new Option('--target <url>', 'the backend (http, https, ws or wss)').default(d.target).env('WSTAP_TARGET').argParser(checkTarget))
    .addOption(new Option('-p, --port <n>', 'port to listen on').default(d.port).env('WSTAP_PORT').argParser(parsePort))
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
      new Option('--upstream-timeout <ms>', 'time for the backend to accept a connection (WebSocket and HTTP) and to answer an upgrade')
        .default(d.upstreamTimeoutMs)
        .env('WSTAP_UPSTREAM_TIMEOUT')
        .argParser(parseMs),
    )
    .addOption(
      new Option('--head-timeout <ms>', 'time for a request head to be complete, and for a request body to send its next byte (else 408)')
        .default(d.headTimeoutMs)
        .env('WSTAP_HEAD_TIMEOUT')
        .argParser((v) => {
          const ms = parseMs(v);
          if (ms < 100) throw new InvalidArgumentError('at least 100 ms: a head takes more than one round trip on a slow link.');
          return ms;
        }),
    )
    .addOption(
      new Option('--shutdown-grace <ms>', 'time open sessions get on SIGINT/SIGTERM')
        .default(d.shutdownGraceMs)
        .env('WSTAP_SHUTDOWN_GRACE')
        .argParser(parseMs),
    )
    .addOption(
      new Option('--max-header-size <bytes>', 'largest request or response head')
        .default(d.maxHeaderSize)
        .env('WSTAP_MAX_HEADER_SIZE')
        .argParser(parseBytes),
    )
    .addOption(
      new Option('--max-message-size <bytes>', 'decoded bytes kept per message (larger ones are counted and marked truncated)')
        .default(d.maxMessageBytes, '1m')
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
        .argParser(parseWith(parsePayloadMode)),
    )
    .addOption(
      new Option('--record-max-bytes <bytes>', 'stop recording (with one log line) at this file size')
        .env('WSTAP_RECORD_MAX_BYTES')
        .argParser(parseBytes),
    );
  for (const o of [protocolOption(), ...actOptions(), ...uiOptions(), ...logOptions()]) cmd.addOption(o);
  cmd.action(
    action((opts: ProxyCliOptions) => {
      const format = opts.logFormat ?? defaultLogFormat();
      const log = createLogger({ format, level: logLevelOf(opts) });
      return runProxy(log, {
        compact: format === 'compact',
        target: opts.target,
        port: opts.port,
        allowOrigins: opts.allowOrigin ?? [],
        normalizeOrigin: opts.normalizeOrigin ?? envFlag('WSTAP_NORMALIZE_ORIGIN') ?? false,
        insecure: opts.insecure ?? envFlag('WSTAP_INSECURE') ?? false,
        upstreamTimeoutMs: opts.upstreamTimeout,
        headTimeoutMs: opts.headTimeout,
        shutdownGraceMs: opts.shutdownGrace,
        maxHeaderSize: opts.maxHeaderSize,
        maxMessageBytes: opts.maxMessageSize,
        hideControl: opts.hideControl ?? envFlag('WSTAP_HIDE_CONTROL') ?? false,
        ...(opts.record
          ? {
              record: {
                file: opts.record,
                payloads: opts.recordPayloads,
                ...(opts.recordMaxBytes !== undefined ? { maxBytes: opts.recordMaxBytes } : {}),
              },
            }
          : {}),
        ...(opts.correlate ? { correlate: opts.correlate } : {}),
        ...(opts.protocol?.length ? { protocols: opts.protocol } : {}),
        ...(opts.match ? { match: opts.match } : {}),
        ...(opts.host ? { hosts: opts.host } : {}),
        ...viewFrom(opts),
        ...actFrom(opts),
      });
    }),
  );
  return cmd;
}
