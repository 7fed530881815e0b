/**
 * The WebSocket upgrade path, on raw sockets (http-proxy's ws path is not faithful: see
 * DESIGN.md). The client's request head goes to the backend byte for byte; the backend's
 * answer comes back byte for byte; only a valid 101 opens a tunnel, and no client byte
 * reaches the backend before it (no smuggling).
 *
 * The phases, in order: inspect the request → refuse an invalid one → rewrite the head
 * (--normalize-origin) → connect → hold the client's early bytes → read and inspect the
 * answer → tunnel, relay the rejection, or fail. Written like tunnel.ts: one state object
 * per upgrade, module-level listeners that find it on their socket.
 */
import type net from 'node:net';
import { inspectAnswer, inspectHandshake, inspectHandshakeValidity, inspectUpstreamFailure, invalidHandshakeFinding } from '../inspect/registry.js';
import type { AppDetection } from '../session/app.js';
import type { Finding } from '../session/finding.js';
import type { Session, SessionOutcome, UpstreamAnswer, UpstreamFailure } from '../session/session.js';
import { headEnd, parseResponseHead, type RequestHead } from '../wire/http-head.js';
import type { LiveSession, RelayContext } from './context.js';
import { answerOf, readHandshake } from './handshake.js';
import { openTunnel } from './open-tunnel.js';
import { protocolOf } from './protocol.js';
import { relayRejection } from './rejection.js';
import { endAndLinger, endpointOf, plainResponse } from './responses.js';
import { rewriteHead } from './rewrite.js';
import { connectUpstream, failureOf, UpstreamTimeout } from './upstream.js';

export type { LiveSession, RelayConfig, RelayContext } from './context.js';

/** Client bytes that may wait for the 101 before wstap stops reading. */
const EARLY_DATA_LIMIT = 1024 * 1024;

/** A session while its upgrade is under way; emitted (frozen) once. */
type Draft = { -readonly [K in keyof Session]: Session[K] } & { findings: Finding[] };

function newDraft(ctx: RelayContext, client: net.Socket, request: RequestHead, headSource: 'wire' | 'rebuilt', outcome: SessionOutcome): Draft {
  const now = Date.now();
  return {
    id: ctx.nextSessionId(),
    client: endpointOf(client),
    target: ctx.config.target.url,
    startedAt: now,
    handshake: readHandshake(request, headSource, now),
    findings: [],
    originNormalized: false,
    outcome,
  };
}

/**
 * The record sinks get: complete, and never written to again. Built field by field in one
 * order, not spread from the draft: a spread of an object with fields added after its creation
 * (upstream, failure) gives every session a hidden class of its own, about 0.7 KB more for each
 * connection an idle proxy holds (issue 17).
 */
function complete(draft: Draft, findings: readonly Finding[] = draft.findings, app?: AppDetection): Session {
  const s: { -readonly [K in keyof Session]: Session[K] } = {
    id: draft.id,
    client: draft.client,
    target: draft.target,
    startedAt: draft.startedAt,
    handshake: draft.handshake,
    findings: Object.freeze([...findings]),
    originNormalized: draft.originNormalized,
    outcome: draft.outcome,
  };
  if (draft.upstream) s.upstream = draft.upstream;
  if (draft.failure) s.failure = draft.failure;
  const detected = app ?? draft.app;
  if (detected) s.app = detected;
  return Object.freeze(s);
}

/**
 * The session as emitted: the findings of the request first, made now that the answer is known
 * (an Origin outside --allow-origin means one thing when the backend accepted it and another when
 * it refused), then those of the answer and the connection.
 */
function finalize(ctx: RelayContext, draft: Draft): Session {
  const request = inspectHandshake(draft.handshake, {
    ...ctx.config.inspect,
    now: draft.startedAt,
    ...(draft.upstream ? { answer: draft.upstream } : {}),
  });
  const app = protocolOf(ctx, draft);
  return complete(draft, [...request, ...draft.findings], app && app !== 'none' ? app : undefined);
}

function emit(ctx: RelayContext, draft: Draft): Session {
  const session = finalize(ctx, draft);
  ctx.bus.handshake(session);
  return session;
}

/** Answers a request that is no valid upgrade with a 400 that says why, and reports it as a session. */
export function rejectMalformedUpgrade(ctx: RelayContext, client: net.Socket, reason: string): void {
  const head: RequestHead = { method: '?', target: '?', version: '?', headers: [], raw: Buffer.alloc(0) };
  const draft = newDraft(ctx, client, head, 'wire', 'invalid');
  draft.findings.push(invalidHandshakeFinding([reason]));
  endAndLinger(client, plainResponse(400, 'Bad Request', `wstap: not a valid WebSocket upgrade: ${reason}\n`, 'rejected-invalid-upgrade'));
  // A head that could not be parsed has nothing else to inspect.
  ctx.bus.handshake(complete(draft));
}

/**
 * Relays one upgrade. `early` holds any client bytes that followed the head in the same read;
 * the client socket is paused and has no 'data' listener when this is called.
 */
export function relayUpgrade(ctx: RelayContext, client: net.Socket, request: RequestHead, early: Buffer, headSource: 'wire' | 'rebuilt'): void {
  const { config } = ctx;
  const draft = newDraft(ctx, client, request, headSource, 'tunnel');
  const invalid = inspectHandshakeValidity(draft.handshake)[0];
  if (invalid) {
    draft.outcome = 'invalid';
    endAndLinger(client, plainResponse(400, 'Bad Request', `wstap: ${invalid.message}\n${invalid.hint}\n`, 'rejected-invalid-upgrade'));
    emit(ctx, draft);
    return;
  }

  const { head, originNormalized } = rewriteHead(draft.handshake, { normalizeOrigin: config.inspect.normalizeOrigin });
  draft.originNormalized = originNormalized;
  new Upgrade(ctx, draft, client, head, early).start();
}

// --- one upgrade in flight -----------------------------------------------------------------

const kUpgrade = Symbol('wstap.upgrade');
type UpgradeSocket = net.Socket & { [kUpgrade]?: Upgrade };

class Upgrade {
  readonly upstream: UpgradeSocket;
  private readonly readyEvent: string;
  private readonly early: Buffer[];
  private earlyBytes: number;
  private done = false;
  phase: 'connect' | 'answer' = 'connect';
  private sentAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private resHead: Buffer = Buffer.alloc(0);
  /** Until the tunnel opens; openTunnel() then gives it an abort of its own. */
  readonly live: LiveSession;

  constructor(
    readonly ctx: RelayContext,
    private readonly draft: Draft,
    readonly client: UpgradeSocket,
    private readonly outHead: Buffer,
    early: Buffer,
  ) {
    this.early = early.length ? [early] : [];
    this.earlyBytes = early.length;
    const { socket, readyEvent } = connectUpstream(ctx.config.target, { insecure: ctx.config.insecure });
    this.upstream = socket;
    this.readyEvent = readyEvent;
    this.live = { session: complete(draft), abort: (reason) => this.fail({ code: 'ESHUTDOWN', message: reason }, 'proxy') };
  }

  start(): void {
    const { client, upstream, ctx } = this;
    ctx.live.add(this.live);
    const ms = ctx.config.upstreamTimeoutMs;
    this.timer = setTimeout(() => this.fail(failureOf(new UpstreamTimeout(this.phase, ms)), 'upstream'), ms);
    client[kUpgrade] = this;
    upstream[kUpgrade] = this;
    client.setTimeout(0);
    client.on('data', clientOnData);
    client.on('end', clientOnGone);
    client.on('close', clientOnGone);
    client.on('error', clientOnError);
    client.resume();
    upstream.on('data', upstreamOnData);
    upstream.on('end', upstreamOnEnd);
    upstream.on('error', upstreamOnError);
    upstream.once(this.readyEvent, upstreamOnReady);
  }

  /** Phase connect → answer: the request head goes out. */
  ready(): void {
    if (this.done) return;
    this.phase = 'answer';
    this.sentAt = performance.now();
    this.upstream.setNoDelay(true);
    this.upstream.write(this.outHead);
  }

  /** Bytes before the 101 are held, never forwarded: after a refused upgrade they would be read as HTTP. */
  hold(chunk: Buffer): void {
    this.early.push(chunk);
    this.earlyBytes += chunk.length;
    if (this.earlyBytes > EARLY_DATA_LIMIT) this.client.pause();
  }

  /** Collects the answer's head; once whole, reads and inspects it. */
  answerBytes(chunk: Buffer): void {
    const max = this.ctx.config.maxHeaderSize;
    this.resHead = this.resHead.length ? Buffer.concat([this.resHead, chunk]) : chunk;
    const end = headEnd(this.resHead);
    if ((end < 0 && this.resHead.length > max) || end > max) {
      this.fail({ code: 'EHEADTOOLARGE', message: `the backend's response head exceeds ${max} bytes` }, 'upstream');
      return;
    }
    if (end < 0) return;
    let answer: UpstreamAnswer;
    try {
      answer = answerOf(parseResponseHead(this.resHead.subarray(0, end)), performance.now() - this.sentAt);
    } catch (err) {
      this.fail({ code: 'EBADRESPONSE', message: `the backend's answer is not valid HTTP: ${(err as Error).message}` }, 'upstream');
      return;
    }
    this.answered(answer, this.resHead.subarray(end));
  }

  /** The answer is complete: a tunnel, or a relayed rejection. */
  private answered(answer: UpstreamAnswer, rest: Buffer): void {
    const { draft, ctx, client, upstream } = this;
    draft.upstream = answer;
    const answerFindings = inspectAnswer(draft.handshake, answer);
    this.detach();
    // A valid 101 is tunnelled even when what it negotiated is wrong (the client decides; the finding says why it fails).
    if (answer.response.status === 101 && !answerFindings.some((f) => f.code === 'upgrade-accept-invalid')) {
      draft.findings.push(...answerFindings);
      draft.outcome = 'tunnel';
      this.live.session = finalize(ctx, draft);
      openTunnel(ctx, this.live, client, upstream, rest, this.early);
      return;
    }
    draft.outcome = 'rejected';
    ctx.live.delete(this.live);
    if (answer.response.status === 101) {
      // An invalid 101 is relayed (the client sees what the backend said), nothing after it.
      draft.findings.push(...answerFindings);
      client.on('error', ignore);
      upstream.on('error', ignore);
      endAndLinger(client, answer.response.raw);
      upstream.destroy();
      emit(ctx, draft);
      return;
    }
    // Inspected again with the body: it often names the reason ("Origin not allowed").
    relayRejection(client, upstream, answer, rest, ctx.config.upstreamTimeoutMs, (withBody) => {
      draft.upstream = withBody;
      draft.findings.push(...inspectAnswer(draft.handshake, withBody));
      emit(ctx, draft);
    });
  }

  /** The upgrade did not complete: tell the client why (when it is still there), report, close both. */
  fail(err: UpstreamFailure, who: 'upstream' | 'client' | 'proxy'): void {
    if (this.done) return;
    const { draft, ctx, client, upstream } = this;
    this.detach();
    ctx.live.delete(this.live);
    upstream.on('error', ignore);
    upstream.destroy();
    client.on('error', ignore);
    draft.failure = err;
    if (who === 'client') {
      draft.outcome = 'aborted';
      client.destroy();
    } else {
      const target = ctx.config.target;
      const f = who === 'proxy' ? undefined : inspectUpstreamFailure(target, err, this.phase);
      draft.outcome = 'failed';
      if (f) draft.findings.push(f);
      const body = f ? `wstap: could not complete the WebSocket upgrade with ${target.url}.\n${f.message}\n${f.hint}\n` : `wstap: ${err.message}\n`;
      if (!client.destroyed) {
        endAndLinger(
          client,
          f ? plainResponse(502, 'Bad Gateway', body, 'upstream-error') : plainResponse(503, 'Service Unavailable', body, 'upstream-error'),
        );
      }
    }
    emit(ctx, draft);
  }

  /** Stops the timer and takes this object's listeners off both sockets (paused first: a flowing stream without a listener drops bytes). */
  private detach(): void {
    const { client, upstream } = this;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.done = true;
    client.pause();
    upstream.pause();
    client.removeListener('data', clientOnData);
    client.removeListener('end', clientOnGone);
    client.removeListener('close', clientOnGone);
    client.removeListener('error', clientOnError);
    upstream.removeListener('data', upstreamOnData);
    upstream.removeListener('end', upstreamOnEnd);
    upstream.removeListener('error', upstreamOnError);
    upstream.removeListener(this.readyEvent, upstreamOnReady);
    // Not `delete` (that makes a socket a dictionary-mode object): see first-head.ts.
    client[kUpgrade] = undefined;
    upstream[kUpgrade] = undefined;
  }
}

const ignore = (): void => {};
const CLIENT_GONE: UpstreamFailure = { code: 'ECLIENTGONE', message: 'the client closed the connection before the backend answered' };
const UPSTREAM_END: UpstreamFailure = { code: 'EUPSTREAMEND', message: 'the backend closed the connection without answering' };

// --- listeners: `this` is the socket, its upgrade is on it -----------------------------------

function clientOnData(this: UpgradeSocket, chunk: Buffer): void {
  this[kUpgrade]?.hold(chunk);
}
function clientOnGone(this: UpgradeSocket): void {
  this[kUpgrade]?.fail(CLIENT_GONE, 'client');
}
function clientOnError(this: UpgradeSocket, err: NodeJS.ErrnoException): void {
  this[kUpgrade]?.fail(failureOf(err), 'client');
}
function upstreamOnReady(this: UpgradeSocket): void {
  this[kUpgrade]?.ready();
}
function upstreamOnData(this: UpgradeSocket, chunk: Buffer): void {
  this[kUpgrade]?.answerBytes(chunk);
}
function upstreamOnEnd(this: UpgradeSocket): void {
  this[kUpgrade]?.fail(UPSTREAM_END, 'upstream');
}
function upstreamOnError(this: UpgradeSocket, err: NodeJS.ErrnoException): void {
  this[kUpgrade]?.fail(failureOf(err), 'upstream');
}
