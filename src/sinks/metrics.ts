/**
 * Prometheus metrics (GET /__wstap/metrics), made with prom-client on a registry of wstap's own.
 * A sink: it counts sessions, findings, closes, messages and bytes, and observes the handshake
 * time, request → answer latency and ping round trips. Every label value is bounded: outcomes,
 * finding codes and severities come from fixed lists; close codes are the standard ones and at
 * most 32 application codes (then "other"); no path, id or address is ever a label.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Finding } from '../session/finding.js';
import type { WsMessage } from '../session/message.js';
import type { AppMessage } from '../session/app.js';
import type { Session, SessionEnd } from '../session/session.js';
import type { EndView, HandshakeView, PatternView } from '../views/views.js';
import type { SessionSink } from './bus.js';

/** Application close codes (3000-4999) kept as their own label value before "other". */
const APP_CODES = 32;
/** Operations (and packet types) over all application protocols that get a label value of their own. */
const APP_LABELS = 100;

/** Seconds, for request → answer and ping round trips: 0.5 ms to 30 s. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class MetricsSink implements SessionSink {
  readonly name = 'metrics';
  readonly wantsFrames = true;
  /** Messages are counted; no payload byte is read. */
  readonly binaryBytes = 0;
  readonly registry = new Registry();
  private readonly sessions = new Counter({
    name: 'wstap_sessions_total',
    help: 'WebSocket upgrades, by outcome (tunnel, rejected, failed, invalid, aborted)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private readonly open = new Gauge({ name: 'wstap_sessions_open', help: 'Tunnels open now', registers: [this.registry] });
  private readonly findings = new Counter({
    name: 'wstap_findings_total',
    help: 'Findings raised, by code and severity',
    labelNames: ['code', 'severity'],
    registers: [this.registry],
  });
  private readonly closes = new Counter({
    name: 'wstap_closes_total',
    help: 'Tunnels ended, by WebSocket close code (1006: no close frame) and who sent the first close frame',
    labelNames: ['code', 'initiator'],
    registers: [this.registry],
  });
  /**
   * Per message the sink only adds to plain numbers and keeps latencies in an array; the
   * counters and histograms take them when scraped (prom-client's collect): a label lookup and
   * a bucket search per message would cost more than everything else the sink does.
   */
  private readonly counts = { up: 0, upBytes: 0, down: 0, downBytes: 0 };
  private readonly taken = { up: 0, upBytes: 0, down: 0, downBytes: 0 };
  private pendingLatency: number[] = [];
  private pendingPings: number[] = [];
  private readonly messages: Counter<'direction'>;
  private readonly bytes: Counter<'direction'>;
  private readonly handshakes = new Histogram({
    name: 'wstap_handshake_duration_seconds',
    help: "Time from the upgrade request to the backend's answer",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly latency: Histogram;
  private readonly operations: Histogram<'protocol' | 'operation'>;
  private readonly appPackets: Counter<'protocol' | 'type'>;
  private readonly appOperations = new Set<string>();
  /** Since the last scrape: packets by protocol and type, answer times by protocol and operation. */
  private readonly pendingPackets = new Map<string, number>();
  private readonly pendingOperations = new Map<string, number[]>();
  private readonly appTypes = new Set<string>();
  private readonly pings: Histogram;
  private readonly http = new Counter({
    name: 'wstap_http_requests_total',
    help: 'HTTP requests forwarded (not upgrades), by status class (2xx, 3xx, 4xx, 5xx)',
    labelNames: ['status_class'],
    registers: [this.registry],
  });
  private readonly appCodes = new Set<number>();

  constructor(opts: { processMetrics?: boolean } = {}) {
    const self = this;
    this.messages = new Counter({
      name: 'wstap_messages_total',
      help: 'WebSocket messages forwarded (control frames included), by direction',
      labelNames: ['direction'],
      registers: [this.registry],
      collect() {
        self.take(this, 'up', 'down');
      },
    });
    this.bytes = new Counter({
      name: 'wstap_message_bytes_total',
      help: 'Bytes of WebSocket messages on the wire (frame headers included), by direction',
      labelNames: ['direction'],
      registers: [this.registry],
      collect() {
        self.take(this, 'upBytes', 'downBytes');
      },
    });
    this.latency = new Histogram({
      name: 'wstap_response_latency_seconds',
      help: 'Time from a client message to the server message that answers it (paired by id, or in order)',
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
      collect: () => self.flushLatency(),
    });
    this.pings = new Histogram({
      name: 'wstap_ping_rtt_seconds',
      help: 'Time from a ping to its pong (either side)',
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
      collect: () => self.flushLatency(),
    });
    this.operations = new Histogram({
      name: 'wstap_operation_latency_seconds',
      help: 'Application protocol operations: a request to its first answer (Socket.IO ack, graphql subscribe to first result, STOMP receipt, MQTT packet id, JSON-RPC id), by protocol and operation (at most 100 operations, the rest as "other")',
      labelNames: ['protocol', 'operation'],
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
      collect: () => self.flushApp(),
    });
    this.appPackets = new Counter({
      name: 'wstap_app_packets_total',
      help: 'Application protocol packets decoded, by protocol and packet type (at most 100 types, the rest as "other")',
      labelNames: ['protocol', 'type'],
      registers: [this.registry],
      collect: () => self.flushApp(),
    });
    if (opts.processMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges that prom-client names like counters (promtool refuses them); their unsuffixed twins stay.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
        this.registry.removeSingleMetric(name);
      }
    }
    // Every known label value from the start, at 0: a dashboard's rate() has a series before the first event.
    for (const o of ['tunnel', 'rejected', 'failed', 'invalid', 'aborted']) this.sessions.labels(o).inc(0);
    for (const c of ['2xx', '3xx', '4xx', '5xx']) this.http.labels(c).inc(0);
    for (const c of [this.messages, this.bytes]) {
      c.labels('client_to_server').inc(0);
      c.labels('server_to_client').inc(0);
    }
  }

  handshake(session: Session, view: HandshakeView): void {
    this.sessions.labels(view.outcome).inc();
    if (session.outcome === 'tunnel') this.open.inc();
    if (view.handshakeMs !== undefined) this.handshakes.observe(view.handshakeMs / 1000);
    this.count(view.findings);
  }

  message(_session: Session, m: WsMessage): void {
    const c = this.counts;
    if (m.from === 'client') {
      c.up++;
      c.upBytes += m.wireSize;
    } else {
      c.down++;
      c.downBytes += m.wireSize;
    }
    if (m.app) this.appMessage(m.app);
    const l = m.latency;
    if (l && Number.isFinite(l.ms)) {
      const pending = l.to === 'ping' ? this.pendingPings : this.pendingLatency;
      pending.push(l.ms / 1000);
      // Bounded between scrapes: a long gap between scrapes flushes here instead.
      if (pending.length >= 8192) this.flushLatency();
    }
  }

  /**
   * A message of an application protocol: its packets counted, the operations it answers timed
   * (labels bounded). Kept in plain maps and handed to prom-client at scrape time, as the other counts.
   */
  private appMessage(app: AppMessage): void {
    for (const p of app.packets) {
      // Folded into "other" as they come: what waits for the scrape is as bounded as the labels.
      const typeKey = `${app.protocol}\n${this.bounded(this.appTypes, `${app.protocol}\n${p.type}`, p.type)}`;
      this.pendingPackets.set(typeKey, (this.pendingPackets.get(typeKey) ?? 0) + 1);
      if (!p.answers) continue;
      const opKey = `${app.protocol}\n${this.bounded(this.appOperations, `${app.protocol}\n${p.answers.operation}`, p.answers.operation)}`;
      let times = this.pendingOperations.get(opKey);
      if (!times) this.pendingOperations.set(opKey, (times = []));
      times.push(p.answers.ms / 1000);
      if (times.length >= 8192) this.flushApp();
    }
  }

  private flushApp(): void {
    for (const [key, n] of this.pendingPackets) {
      const [protocol, type] = key.split('\n') as [string, string];
      this.appPackets.labels(protocol, type).inc(n);
    }
    for (const [key, times] of this.pendingOperations) {
      const [protocol, operation] = key.split('\n') as [string, string];
      const h = this.operations.labels(protocol, operation);
      for (const v of times) h.observe(v);
    }
    this.pendingPackets.clear();
    this.pendingOperations.clear();
  }

  /** A label value kept as it is while the set has room, else "other": a metric's series stay bounded whatever the traffic names. */
  private bounded(set: Set<string>, key: string, value: string): string {
    if (set.has(key)) return value;
    if (set.size >= APP_LABELS) return 'other';
    set.add(key);
    return value;
  }

  /** Adds what was counted since the last scrape to a counter's two directions. */
  private take(counter: Counter<'direction'>, up: keyof MetricsSink['counts'], down: keyof MetricsSink['counts']): void {
    for (const [key, direction] of [
      [up, 'client_to_server'],
      [down, 'server_to_client'],
    ] as const) {
      const delta = this.counts[key] - this.taken[key];
      if (delta > 0) counter.labels(direction).inc(delta);
      this.taken[key] = this.counts[key];
    }
  }

  private flushLatency(): void {
    for (const v of this.pendingLatency) this.latency.observe(v);
    for (const v of this.pendingPings) this.pings.observe(v);
    this.pendingLatency = [];
    this.pendingPings = [];
  }

  end(_session: Session, _end: SessionEnd, view: EndView): void {
    this.open.dec();
    // The findings of the tunnel's life: those about its close, and protocol errors (reported live too, counted here once).
    this.count(view.findings);
    const c = view.close;
    if (c) this.closes.labels(this.codeLabel(c.code), c.initiator).inc();
  }

  /** A pattern across sessions: counted once per report (a growing loop is reported again). */
  pattern(p: PatternView): void {
    this.findings.labels(p.finding.code, p.finding.severity).inc();
  }

  /** A forwarded HTTP request's status. */
  httpStatus(status: number): void {
    this.http.labels(status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other').inc();
  }

  private count(findings: readonly Finding[]): void {
    for (const f of findings) this.findings.labels(f.code, f.severity).inc();
  }

  private codeLabel(code: number): string {
    if (code < 3000) return String(code);
    if (this.appCodes.has(code)) return String(code);
    if (this.appCodes.size < APP_CODES && code <= 4999) {
      this.appCodes.add(code);
      return String(code);
    }
    return 'other';
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
