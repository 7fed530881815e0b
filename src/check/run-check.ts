/**
 * `wstap check`: one-command diagnosis of a WebSocket endpoint, step by step, with
 * the proxy's findings. Each step has a verdict and its time; a step that cannot run
 * because an earlier one failed is skipped, with the reason.
 */
import dns from 'node:dns/promises';
import net from 'node:net';
import type tls from 'node:tls';
import {
  detectContainer,
  diagnoseEnv,
  inspectClose,
  inspectHandshake,
  inspectHealthAnswer,
  inspectUpstreamFailure,
  inspectViolation,
  localhostInContainerFinding,
  type ContainerInfo,
} from '../inspect/registry.js';
import { worstSeverity, type Finding } from '../session/finding.js';
import type { CloseSummary } from '../session/summary.js';
import { redactTarget } from '../secrets/redact.js';
import type { UpstreamFailure } from '../session/session.js';
import { parseTarget, type Target } from '../wire/target.js';
import { connectUpstream, failureOf, UpstreamTimeout } from '../upgrade/upstream.js';
import { probeOrigins, type OriginProbe } from './origins.js';
import { openWebSocket, roundMs, type CheckSocket, type HandshakeRequest } from './ws-client.js';

export type Verdict = 'ok' | 'warn' | 'error' | 'skip';
export type StepName = 'env-file' | 'environment' | 'resolve' | 'connect' | 'health' | 'handshake' | 'linger' | 'send' | 'origins';

export interface CheckStep {
  name: StepName;
  verdict: Verdict;
  /** Time the step took, in milliseconds (for send: the reply's latency). Absent for skipped steps. */
  ms?: number;
  /** One line: what happened. */
  detail: string;
  findings: Finding[];
}

export interface CheckResult {
  /** The URL checked (token-like query values redacted). */
  url: string;
  /** No step failed. */
  ok: boolean;
  /** 0 healthy, 1 a step failed. */
  exitCode: 0 | 1;
  steps: CheckStep[];
  /** With --origins: one probe per Origin. */
  origins?: OriginProbe[];
  /** Every finding of every step, in step order. */
  findings: Finding[];
  totalMs: number;
}

export interface CheckOptions {
  /** ws://, wss://, http:// or https:// URL of the WebSocket endpoint. */
  url: string;
  /** One Origin line each (--origin, repeatable). */
  origins?: string[];
  /** Extra header lines (--header). */
  headers?: [string, string][];
  subprotocols?: string[];
  /** A path (/health) on the same host and port, or an absolute URL. */
  health?: string;
  /** How long to watch the open connection for an immediate close. Default 1000. */
  lingerMs?: number;
  /** A text message to send once open; its reply and latency are reported. */
  send?: string;
  /** --origins: each one is probed. */
  originProbes?: string[];
  /** --dotenv (or --env-file), already read. */
  env?: { source: string; vars: ReadonlyMap<string, string> };
  /** Per step (connection, answer, reply). Default 5000. */
  timeoutMs?: number;
  insecure?: boolean;
  /** Where wstap runs; detected by default. */
  container?: ContainerInfo;
  /** Called as each step finishes (for live output). */
  onStep?(step: CheckStep): void;
}

export class CheckUrlError extends Error {
  override readonly name = 'CheckUrlError';
}

export interface CheckUrl {
  target: Target;
  /** Path and query. */
  path: string;
  /** ws(s)://host:port/path, as used. */
  href: string;
}

/** A WebSocket URL to check: ws, wss, http or https (http means ws). */
export function parseCheckUrl(input: string): CheckUrl {
  let u: URL;
  try {
    u = new URL(input);
  } catch {
    throw new CheckUrlError(`"${input}" is not a URL: expected something like ws://localhost:8000/ws`);
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(u.protocol)) {
    throw new CheckUrlError(`"${input}": the scheme must be ws, wss, http or https, not ${u.protocol.replace(/:$/, '')}`);
  }
  const target = parseTarget(`${u.protocol}//${u.host}`);
  const path = `${u.pathname || '/'}${u.search}`;
  const scheme = target.secure ? 'wss' : 'ws';
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return { target, path, href: `${scheme}://${host}:${target.port}${path}` };
}

const FAILING_CLOSE = new Set([1006, 1008]);

function verdictOf(findings: readonly Finding[]): Verdict {
  const worst = worstSeverity(findings);
  return worst === 'error' ? 'error' : worst === 'warn' ? 'warn' : 'ok';
}

function since(t: number): number {
  return roundMs(performance.now() - t);
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(onTimeout()), ms)))]).finally(() => clearTimeout(timer));
}

function oneLine(s: string, max = 160): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

function closeText(c: CloseSummary): string {
  if (c.initiator === 'none') return 'the connection ended without a close frame (1006)';
  return `closed by the server: ${c.code}${c.reason ? ` "${c.reason}"` : ''} (${c.meaning})`;
}

/** Verdict of a close that came while wstap check expected the connection to stay open. */
function closeVerdict(c: CloseSummary, findings: readonly Finding[]): Verdict {
  if (findings.length > 0 || FAILING_CLOSE.has(c.code)) return 'error';
  return 'warn';
}

async function resolveStep(target: Target, timeoutMs: number): Promise<CheckStep> {
  if (net.isIP(target.host)) return { name: 'resolve', verdict: 'ok', ms: 0, detail: `${target.host} is an IP address`, findings: [] };
  const t = performance.now();
  try {
    const addrs = await withTimeout(dns.lookup(target.host, { all: true }), timeoutMs, () =>
      Object.assign(new Error(`no answer from the resolver within ${timeoutMs} ms`), { code: 'EAI_AGAIN' }),
    );
    const list = addrs.map((a) => a.address);
    return { name: 'resolve', verdict: 'ok', ms: since(t), detail: `${target.host} → ${list.slice(0, 4).join(', ')}${list.length > 4 ? ', …' : ''}`, findings: [] };
  } catch (err) {
    const failure = failureOf(err);
    return { name: 'resolve', verdict: 'error', ms: since(t), detail: `${target.host} does not resolve (${failure.code})`, findings: [inspectUpstreamFailure(target, failure)] };
  }
}

function connectStep(target: Target, timeoutMs: number, insecure: boolean): Promise<CheckStep> {
  const t = performance.now();
  return new Promise((resolve) => {
    const { socket, readyEvent } = connectUpstream(target, { insecure });
    let phaseDone = false;
    const done = (step: CheckStep): void => {
      if (phaseDone) return;
      phaseDone = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(step);
    };
    const fail = (err: unknown): void => {
      const failure: UpstreamFailure = failureOf(err);
      done({ name: 'connect', verdict: 'error', ms: since(t), detail: `no connection to ${target.host}:${target.port} (${failure.code})`, findings: [inspectUpstreamFailure(target, failure, 'connect')] });
    };
    const timer = setTimeout(() => fail(new UpstreamTimeout('connect', timeoutMs)), timeoutMs);
    socket.on('error', fail);
    socket.once(readyEvent, () => {
      const tlsInfo = target.secure ? `, ${(socket as tls.TLSSocket).getProtocol?.() ?? 'TLS'}` : '';
      done({ name: 'connect', verdict: 'ok', ms: since(t), detail: `connected to ${socket.remoteAddress ?? target.host}:${socket.remotePort ?? target.port}${tlsInfo}`, findings: [] });
    });
  });
}

function healthUrl(target: Target, health: string): string {
  if (/^https?:\/\//i.test(health)) return health;
  return `${target.url}${health.startsWith('/') ? '' : '/'}${health}`;
}

async function healthStep(target: Target, health: string, timeoutMs: number, insecure: boolean): Promise<CheckStep> {
  const url = healthUrl(target, health);
  const shownUrl = redactTarget(url);
  // undici is loaded here, not with the module: the proxy never needs it.
  const { Agent, request } = await import('undici');
  const agent = new Agent({ connect: { timeout: timeoutMs, rejectUnauthorized: !insecure }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const t = performance.now();
  try {
    const res = await request(url, { method: 'GET', dispatcher: agent, headers: { 'user-agent': 'wstap-check' } });
    let body = '';
    for await (const chunk of res.body) {
      body += Buffer.from(chunk as Uint8Array).toString('utf8');
      if (body.length > 2048) break;
    }
    const ms = since(t);
    const excerpt = oneLine(body, 120);
    const detail = `GET ${shownUrl} → ${res.statusCode}${excerpt ? ` ${excerpt}` : ''}`;
    const f = inspectHealthAnswer(shownUrl, new URL(url).pathname, res.statusCode, excerpt);
    return f ? { name: 'health', verdict: 'error', ms, detail, findings: [f] } : { name: 'health', verdict: 'ok', ms, detail, findings: [] };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
    const raw = e.code?.startsWith('UND_ERR') && e.cause?.code ? e.cause : e;
    let failure = failureOf(raw);
    if (/^UND_ERR_(CONNECT|HEADERS|BODY)_TIMEOUT$/.test(failure.code)) failure = { code: 'ETIMEDOUT', message: failure.message };
    const phase = failure.code === 'ETIMEDOUT' && e.code !== 'UND_ERR_CONNECT_TIMEOUT' ? 'answer' : 'connect';
    return { name: 'health', verdict: 'error', ms: since(t), detail: `GET ${shownUrl} failed (${failure.code})`, findings: [inspectUpstreamFailure(target, failure, phase)] };
  } finally {
    await agent.close().catch(() => {});
  }
}

function skipped(name: StepName, why: string): CheckStep {
  return { name, verdict: 'skip', detail: why, findings: [] };
}

export async function runCheck(opts: CheckOptions): Promise<CheckResult> {
  const started = performance.now();
  const timeoutMs = opts.timeoutMs ?? 5000;
  const lingerMs = opts.lingerMs ?? 1000;
  const insecure = opts.insecure ?? false;
  const { target, path, href } = parseCheckUrl(opts.url);
  const steps: CheckStep[] = [];
  const add = (s: CheckStep): CheckStep => {
    steps.push(s);
    opts.onStep?.(s);
    return s;
  };
  let origins: OriginProbe[] | undefined;

  if (opts.env) {
    const d = diagnoseEnv(opts.env.vars, opts.env.source);
    const names = Object.entries(d.variables).map(([k, v]) => `${k}=${v}`);
    add({
      name: 'env-file',
      verdict: names.length ? verdictOf(d.findings) : 'warn',
      ms: 0,
      detail: names.length ? `${opts.env.source}: ${names.join(' ')}` : `${opts.env.source} sets none of the checklist variables (NEXT_PUBLIC_WS_URL, NEXT_PUBLIC_API_URL, NEXT_PUBLIC_WEBSOCKET_URL, ALLOW_DEV_AUTH_BYPASS, WEBSOCKET_AUTH_BYPASS, ENVIRONMENT)`,
      findings: d.findings,
    });
  }

  const container = opts.container ?? detectContainer();
  if (container.inContainer) {
    const f = localhostInContainerFinding(target, { command: 'check', path: path.split('?')[0]! }, container);
    add({
      name: 'environment',
      verdict: f ? 'warn' : 'ok',
      ms: 0,
      detail: `in a container (${container.evidence ?? 'detected'}); target ${target.host}${f ? ' is this container' : ''}`,
      findings: f ? [f] : [],
    });
  }

  const resolved = add(await resolveStep(target, timeoutMs));
  const connected = resolved.verdict === 'error' ? add(skipped('connect', 'the host name does not resolve')) : add(await connectStep(target, timeoutMs, insecure));
  const reachable = connected.verdict !== 'error' && connected.verdict !== 'skip';
  const unreachableWhy = resolved.verdict === 'error' ? 'the host name does not resolve' : 'no connection';

  if (!opts.health) add(skipped('health', 'no --health path given (e.g. --health /health)'));
  else if (!reachable) add(skipped('health', unreachableWhy));
  else add(await healthStep(target, opts.health, timeoutMs, insecure));

  const base: Omit<HandshakeRequest, 'origins'> = {
    target,
    path,
    headers: opts.headers ?? [],
    subprotocols: opts.subprotocols ?? [],
    insecure,
    timeoutMs,
  };
  let socket: CheckSocket | undefined;
  if (!reachable) {
    add(skipped('handshake', unreachableWhy));
  } else {
    const t = performance.now();
    const outcome = await openWebSocket({ ...base, origins: opts.origins ?? [] });
    const findings = [...inspectHandshake(outcome.handshake, { allowOrigins: [], normalizeOrigin: false, now: Date.now() }), ...outcome.findings];
    const ms = since(t);
    if (outcome.kind === 'failed') {
      add({ name: 'handshake', verdict: 'error', ms, detail: `no answer (${outcome.failure.code}: ${outcome.failure.message})`, findings });
    } else {
      const res = outcome.answer.response;
      const status = `${res.status} ${res.reason}`.trim();
      let detail: string;
      if (outcome.socket) {
        detail = `${status} · subprotocol ${outcome.answer.chosenProtocol ?? '-'} · extensions ${outcome.answer.chosenExtensions ?? '-'}`;
        socket = outcome.socket;
      } else {
        const body = outcome.answer.bodyExcerpt?.trim();
        detail = body ? `${status}: "${oneLine(body, 120)}"` : status;
      }
      add({ name: 'handshake', verdict: verdictOf(findings), ms, detail, findings });
    }
  }

  if (!socket) {
    add(skipped('linger', 'the WebSocket did not open'));
    add(skipped('send', 'the WebSocket did not open'));
  } else {
    const t = performance.now();
    await socket.waitForClose(lingerMs);
    const close = socket.closeSummary();
    if (socket.violation) {
      const v = socket.violation;
      add({ name: 'linger', verdict: 'error', ms: since(t), detail: `protocol error from the server: ${v.detail}`, findings: [inspectViolation(v, 'check')] });
    } else if (close) {
      const findings = inspectClose(close);
      add({ name: 'linger', verdict: closeVerdict(close, findings), ms: since(t), detail: `${closeText(close)}, right after opening`, findings });
    } else {
      // Messages the server sent on its own (a greeting) are reported here, not taken for the reply to --send.
      const greeting = socket.takeQueued();
      const first = greeting[0];
      const sent = first ? `; the server sent ${greeting.length} message${greeting.length > 1 ? 's' : ''}: ${first.kind === 'text' ? oneLine(first.data.toString('utf8'), 100) : `${first.size} bytes of binary`}` : '';
      add({ name: 'linger', verdict: 'ok', ms: since(t), detail: `still open after ${lingerMs} ms${sent}`, findings: [] });
    }

    if (opts.send === undefined) add(skipped('send', 'no --send text given'));
    else if (socket.closed) add(skipped('send', 'the connection is closed'));
    else {
      const sentAt = socket.sendText(opts.send);
      const reply = await socket.nextMessage(timeoutMs);
      if (reply) {
        const latency = roundMs(reply.lastByteAt - sentAt);
        const text = reply.kind === 'text' ? oneLine(reply.data.toString('utf8')) : `${reply.size} bytes of binary`;
        add({ name: 'send', verdict: 'ok', ms: latency, detail: `reply in ${latency} ms: ${text}`, findings: [] });
      } else {
        const c = socket.closeSummary();
        if (c) {
          const findings = inspectClose(c);
          add({ name: 'send', verdict: closeVerdict(c, findings), ms: since(sentAt), detail: `no reply: ${closeText(c)}`, findings });
        } else {
          add({ name: 'send', verdict: 'warn', ms: since(sentAt), detail: `no reply within ${timeoutMs} ms (the connection stays open)`, findings: [] });
        }
      }
    }
    await socket.close(Math.min(1000, timeoutMs));
  }

  if (opts.originProbes?.length) {
    if (!reachable) add(skipped('origins', unreachableWhy));
    else {
      const t = performance.now();
      origins = await probeOrigins(base, opts.originProbes, Math.min(lingerMs, 1000));
      const accepted = origins.filter((o) => o.verdict === 'accepted');
      const detail = `${accepted.length} of ${origins.length} accepted${accepted.length ? `: ${accepted.map((o) => o.origin).join(', ')}` : ''}`;
      let verdict: Verdict = accepted.length === origins.length ? 'ok' : accepted.length > 0 ? 'warn' : 'error';
      // Findings only when nothing works: one representative (the hint names the Origin to add).
      const findings = verdict === 'error' ? (origins.find((o) => o.findings.length)?.findings ?? []) : [];
      if (verdict === 'error' && findings.length === 0) verdict = 'warn';
      add({ name: 'origins', verdict, ms: since(t), detail, findings });
    }
  }

  const failed = steps.some((s) => s.verdict === 'error');
  const result: CheckResult = {
    url: redactTarget(href),
    ok: !failed,
    exitCode: failed ? 1 : 0,
    steps,
    findings: steps.flatMap((s) => s.findings),
    totalMs: since(started),
  };
  if (origins) result.origins = origins;
  return result;
}
