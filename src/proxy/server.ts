/**
 * The proxy, composed: listeners, the first-head reader, the upgrade relay, the HTTP path
 * with wstap's own routes, the session bus with the sinks it is handed, and shutdown. This
 * file only wires the parts; each part is its own module.
 */
import type net from 'node:net';
import os from 'node:os';
import { redactingLogger } from '../log/redacting-logger.js';
import pino, { type Logger } from 'pino';
import type { SessionSink } from '../sinks/bus.js';
import type { SessionHistory } from '../sinks/history.js';
import { SessionBus } from '../sinks/bus.js';
import type { MessageHook } from '../tunnel/hooks.js';
import type { LiveSession, RelayContext } from '../upgrade/relay.js';
import { parseOriginPattern } from '../wire/origin-pattern.js';
import { parseTarget, type Target } from '../wire/target.js';
import { PROXY_DEFAULTS } from './defaults.js';
import { readFirstHead } from './first-head.js';
import { apiRoutes } from './api.js';
import { watchSlowConsumers } from './slow-consumers.js';
import { metricsRoute } from './metrics-route.js';
import type { MetricsSink } from '../sinks/metrics.js';
import { controlRoutes, ProxyActions } from './control-api.js';
import { FaultRules } from '../act/faults.js';
import { Breakpoints } from '../act/breakpoints.js';
import type { Side } from '../session/message.js';
import { randomBytes } from 'node:crypto';
import { uiRoutes } from './ui.js';
import { healthRoute } from './health.js';
import { createHttpForwarder, type HttpProblem } from './http-forward.js';
import { isPolling, WebSocketPaths } from './http-log.js';
import { PollingTracker } from './polling.js';
import type { ProtocolChoice } from '../protocols/registry.js';
import { redactDeep } from '../secrets/free-text.js';
import type { PatternView } from '../views/views.js';
import { createHttpPath } from './http-path.js';
import { listenAll } from './listen.js';
import type { Route } from './routes.js';
import { shutdown, track } from './shutdown.js';

export { ListenError } from './listen.js';

export interface ProxyOptions {
  /** The backend, e.g. "http://localhost:8000" (ws:// and wss:// are accepted too). */
  target: string;
  /** 0 picks a free port. Default 8001. */
  port?: number;
  /** Addresses to listen on. Default: 127.0.0.1 and ::1 (browsers try ::1 first for "localhost"). */
  hosts?: string[];
  allowOrigins?: string[];
  normalizeOrigin?: boolean;
  /** Connect + answer time allowed to the backend for an upgrade, ms. Default 10000. */
  upstreamTimeoutMs?: number;
  /** Largest request or response head, bytes. Default 16384 (Node's default). */
  maxHeaderSize?: number;
  /** Time a client has to send its request head, ms. Default 30000. */
  headTimeoutMs?: number;
  /** Accept any certificate from an https/wss target. */
  insecure?: boolean;
  /** Largest decoded message kept per message (the rest is counted). Default 1 MiB. */
  maxMessageBytes?: number;
  /** JSON path that pairs a client message with its answer ("id", "$.meta.requestId"); detected when unset. */
  correlate?: string;
  /** --protocol: the application protocol per path (Socket.IO, graphql-ws, STOMP, MQTT, JSON-RPC, or none); detected when absent. */
  protocols?: ProtocolChoice[];
  /** Session ids are PREFIX-1, PREFIX-2, ... Default "ws". */
  sessionIdPrefix?: string;
  /**
   * Where session events go: createLogSink(logger) for the annotated log, a Recorder, your own.
   * With none, nothing is decoded and nothing is reported.
   */
  sinks?: SessionSink[];
  /** Message hooks: a session one of them takes at the handshake goes on the message path. */
  hooks?: MessageHook[];
  /** Fault rules from the start (--fault), e.g. "delay=300ms to=client match=tick"; more can be added with fault(). */
  faults?: string[];
  /** The token that anything changing traffic through /__wstap/api/ needs (random when absent). */
  controlToken?: string;
  /** Breakpoints from the start (--intercept): conditions as for a fault rule, e.g. "to=server match=checkout". */
  intercept?: string[];
  /** How long a held message waits for a release before it is forwarded as it was, ms. Default 60000. */
  interceptTimeoutMs?: number;
  /** The live view's history (also one of the sinks): its API is served under /__wstap/api/. */
  history?: SessionHistory;
  /** The Prometheus metrics (also one of the sinks): served at /__wstap/metrics. */
  metrics?: MetricsSink;
  /** Names besides IP addresses, localhost and this machine's host name that /__wstap/ answers to (--ui-host). */
  uiHosts?: string[];
  /** wstap's own lines (a listener error, a sink that failed, an HTTP request that could not be forwarded). Silent when absent. */
  logger?: Logger;
}

export interface ProxyServer {
  target: Target;
  /** Where the proxy listens, e.g. [{address: '127.0.0.1', port: 8001}]. */
  addresses: { address: string; port: number }[];
  port: number;
  /** http://127.0.0.1:PORT (the first address). */
  url: string;
  /** Open client sockets (any state), live WebSocket sessions (pending upgrades and tunnels), HTTP requests the client gave up on. */
  stats(): { clientSockets: number; liveSessions: number; httpAbandoned: number };
  /** Stops accepting, gives open sessions up to graceMs, then closes them; flushes the sinks. */
  close(graceMs?: number): Promise<void>;
  /** The token for the API's requests that change traffic (Authorization: Bearer ...). */
  controlToken: string;
  /** The fault rules in force: add(), remove(), list(). */
  faults: FaultRules;
  /** Adds a fault rule (see README, "Act on the wire"); its id. A bad rule throws RuleError with the position. */
  fault(rule: string): number;
  /** Sends a text (string) or binary (Buffer) message into an open session, to one side; resolves once written. */
  send(sessionId: string, to: Side, data: string | Buffer): Promise<void>;
  /** Closes an open session: a close frame with code and reason to the side(s), then the TCP close. */
  closeSession(sessionId: string, to: Side | 'both', code?: number, reason?: string): Promise<void>;
  /** Breakpoints: add(), remove(), list(), held(), next(), release(). */
  breakpoints: Breakpoints;
  /** Adds a breakpoint (conditions as for a fault rule, e.g. "to=server match=checkout"); its id. */
  intercept(conditions: string): number;
}

function reportHttpProblem(log: Logger, p: HttpProblem): void {
  if (p.explanation) {
    log.error(
      { event: 'http-error', method: p.method, path: p.path, client: p.client, error: p.error, midResponse: p.midResponse },
      `${p.method} ${p.path} → 502: ${p.explanation}`,
    );
    return;
  }
  if (!p.finding) {
    log.debug({ event: 'http-client-gone', ...p }, `${p.method} ${p.path}: the client went away (${p.error})`);
    return;
  }
  log.error(
    { event: 'http-error', method: p.method, path: p.path, client: p.client, error: p.error, finding: p.finding, midResponse: p.midResponse },
    `${p.method} ${p.path} → ${p.midResponse ? 'cut off mid-response' : '502'}: ${p.finding.code}`,
  );
}

function relayContext(options: ProxyOptions, target: Target, bus: SessionBus, log: Logger, acting: MessageHook[]): RelayContext {
  let sessionCounter = 0;
  const prefix = options.sessionIdPrefix ?? PROXY_DEFAULTS.sessionIdPrefix;
  return {
    config: {
      target,
      inspect: { allowOrigins: (options.allowOrigins ?? []).map(parseOriginPattern), normalizeOrigin: options.normalizeOrigin ?? false },
      upstreamTimeoutMs: options.upstreamTimeoutMs ?? PROXY_DEFAULTS.upstreamTimeoutMs,
      tap: {
        maxMessageBytes: options.maxMessageBytes ?? PROXY_DEFAULTS.maxMessageBytes,
        ...(options.correlate ? { correlate: options.correlate } : {}),
        ...(options.protocols?.length ? { protocols: options.protocols } : {}),
      },
      maxHeaderSize: options.maxHeaderSize ?? PROXY_DEFAULTS.maxHeaderSize,
      insecure: options.insecure ?? false,
    },
    bus,
    hooks: [...(options.hooks ?? []), ...acting],
    nextSessionId: () => `${prefix}-${++sessionCounter}`,
    live: new Set<LiveSession>(),
    pendingEnds: new Set(),
    onTapFailure: (session, err) =>
      log.error(
        { event: 'tap-failed', session: session.id, err: String(err) },
        `${session.id}: frame decoding failed and is off for this session (${String(err)}); forwarding goes on`,
      ),
    onHookFailure: (session, err) =>
      log.error(
        { event: 'hook-failed', session: session.id, err: String(err) },
        `${session.id}: a message hook failed (${String(err)}); the message was passed on`,
      ),
  };
}

export async function startProxy(options: ProxyOptions): Promise<ProxyServer> {
  const target = parseTarget(options.target);
  // Every line the proxy logs itself passes the redaction step: they quote the wire.
  const log = redactingLogger(options.logger ?? pino({ level: 'silent' }));
  const maxHeaderSize = options.maxHeaderSize ?? PROXY_DEFAULTS.maxHeaderSize;
  // Socket.IO's long-polling: its findings have no WebSocket session, and reach the sinks as patterns do.
  let report: (p: PatternView) => void = () => {};
  const polling = new PollingTracker({
    finding: (finding, client) => report(redactDeep({ finding, client, sessions: [], ts: Date.now() })),
    packet: (from, line, sid) => {
      if (log.isLevelEnabled('debug')) log.debug({ event: 'polling', from, sid, line }, `polling ${from === 'client' ? '→' : '←'} ${line}`);
    },
  });
  const bus = new SessionBus([...(options.sinks ?? []), polling], (sink, err) =>
    log.error({ event: 'sink-failed', sink, err: String(err) }, `the ${sink} output failed and is switched off: ${String(err)}`),
  );
  report = (p) => bus.pattern(p);
  const faults = new FaultRules(options.faults ?? []);
  const breakpoints = new Breakpoints(options.intercept ?? [], options.interceptTimeoutMs ?? PROXY_DEFAULTS.interceptTimeoutMs, {
    held: (h) =>
      log.info(
        { event: 'held', session: h.session, held: h.id, to: h.to, kind: h.kind, size: h.data.length },
        `${h.session}: breakpoint ${h.breakpoint} holds a ${h.data.length} B ${h.kind} message to the ${h.to} (#${h.id}): release it with POST /__wstap/api/held/${h.id}`,
      ),
    released: (h, how) =>
      log[how === 'timeout' ? 'warn' : 'info'](
        { event: 'released', session: h.session, held: h.id, how },
        how === 'timeout'
          ? `${h.session}: held message #${h.id} forwarded as it was: nobody released it in time (--intercept-timeout)`
          : `${h.session}: held message #${h.id} ${how === 'edit' ? 'forwarded, edited' : how === 'drop' ? 'dropped' : how === 'closed' ? 'gone with its session' : 'forwarded'}`,
      ),
  });
  // Breakpoints first: they hold the message as it came; the fault rules act on what they let through.
  const relay = relayContext(options, target, bus, log, [breakpoints, faults]);
  const actions = new ProxyActions(relay.live, faults, breakpoints);
  const controlToken = options.controlToken ?? randomBytes(18).toString('base64url');
  const forwarder = createHttpForwarder(
    target,
    { insecure: relay.config.insecure, connectTimeoutMs: relay.config.upstreamTimeoutMs, peekBody: (req) => isPolling(req.url ?? '/') },
    {
      problem: (p) => reportHttpProblem(log, p),
      abandoned: (a) =>
        log.info(
          { event: 'http-abandoned', ...a, status: 499 },
          `${a.method} ${a.path}: the client went away ${a.midResponse ? 'during the response' : 'before the backend answered'} after ${a.ms} ms (499); the backend request was closed`,
        ),
    },
  );
  const routes: Route[] = [
    healthRoute(target),
    ...(options.metrics ? [metricsRoute(options.metrics)] : []),
    ...controlRoutes(actions, controlToken),
    ...(options.history ? [...apiRoutes(options.history, target.url), ...uiRoutes()] : []),
  ];
  const controlHosts = new Set([os.hostname().toLowerCase(), ...(options.uiHosts ?? []).map((h) => h.toLowerCase())]);
  const wsPaths = new WebSocketPaths();
  const headTimeoutMs = options.headTimeoutMs ?? PROXY_DEFAULTS.headTimeoutMs;
  const onHttpStatus = options.metrics ? (status: number) => options.metrics!.httpStatus(status) : undefined;
  const httpServer = createHttpPath({
    relay,
    forwarder,
    routes,
    log,
    maxHeaderSize,
    headTimeoutMs,
    wsPaths,
    controlHosts,
    polling,
    ...(onHttpStatus ? { onHttpStatus } : {}),
  });
  const headCtx = {
    relay,
    wsPaths,
    log,
    maxHeaderSize,
    headTimeoutMs,
    toHttp: (socket: net.Socket) => {
      httpServer.emit('connection', socket);
      socket.resume();
    },
  };
  const sockets = new Set<net.Socket>();
  const onConnection = (socket: net.Socket): void => {
    track(sockets, socket);
    readFirstHead(headCtx, socket);
  };
  const hosts = options.hosts?.length ? options.hosts : PROXY_DEFAULTS.hosts;
  const { servers, addresses, port } = await listenAll(hosts, options.port ?? PROXY_DEFAULTS.port, !options.hosts?.length, onConnection, log);
  const first = addresses[0]!;
  const urlHost = first.address.includes(':') ? `[${first.address}]` : first.address;
  const close = shutdown({ servers, httpServer, forwarder, sockets, live: relay.live, pendingEnds: relay.pendingEnds, bus });
  const stopWatching = watchSlowConsumers(relay.live, bus);
  return {
    target,
    addresses,
    port,
    url: `http://${urlHost}:${port}`,
    stats: () => ({ clientSockets: sockets.size, liveSessions: relay.live.size, httpAbandoned: forwarder.abandoned }),
    close: (graceMs = PROXY_DEFAULTS.shutdownGraceMs) => {
      stopWatching();
      return close(graceMs);
    },
    controlToken,
    faults,
    fault: (rule) => faults.add(rule),
    send: (id, to, data) => actions.send(id, to, typeof data === 'string' ? { kind: 'text', data } : { kind: 'binary', data }),
    closeSession: (id, to, code = 1000, reason = '') => actions.close(id, to, code, reason),
    breakpoints,
    intercept: (conditions) => breakpoints.add(conditions),
  };
}
