/**
 * What changes traffic, from the library and from /__wstap/api/: fault rules (add, list,
 * remove), a message sent into an open session, a session closed with a code. Every request
 * that changes something needs `Authorization: Bearer <control token>` (printed at startup,
 * or set with --control-token); without it: 401, and nothing changes. Reads (GET /faults) are
 * open like the rest of the API.
 */
import { timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { FaultRules } from '../act/faults.js';
import type { Breakpoints, HeldMessage, Release } from '../act/breakpoints.js';
import { redactPayloadText } from '../secrets/redact.js';
import { RuleError } from '../act/rules.js';
import type { Side } from '../session/message.js';
import type { OutMessage } from '../tunnel/hooks.js';
import { ControlError } from '../upgrade/control.js';
import type { LiveSession } from '../upgrade/context.js';
import { isValidCloseCode } from '../wire/ws-frame.js';
import { API_PREFIX } from './api.js';
import { sendJson, type Route } from './routes.js';
import { maskSecrets } from '../views/views.js';

/** Largest request body the control API reads. */
const MAX_BODY = 1024 * 1024;

export class ActionError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The library's and the API's hands on the proxy's traffic. */
export class ProxyActions {
  constructor(
    private readonly live: ReadonlySet<LiveSession>,
    readonly faults: FaultRules,
    readonly breakpoints: Breakpoints,
  ) {}

  private open(id: string): LiveSession & { control: NonNullable<LiveSession['control']> } {
    for (const l of this.live) {
      if (l.session.id !== id) continue;
      if (l.control?.isOpen) return l as LiveSession & { control: NonNullable<LiveSession['control']> };
      throw new ActionError(409, `session ${id} is not an open tunnel`);
    }
    throw new ActionError(404, `no open session ${id}`);
  }

  /** Sends a message into an open session, to one side; resolves once it is written. */
  async send(id: string, to: Side, m: Extract<OutMessage, { kind: 'text' | 'binary' }>): Promise<void> {
    const { control } = this.open(id);
    try {
      await control.sendNow(to, m);
    } catch (err) {
      throw err instanceof ControlError ? new ActionError(409, `cannot send into ${id}: ${err.message}`) : err;
    }
    const size = typeof m.data === 'string' ? Buffer.byteLength(m.data) : m.data.length;
    control.report({ kind: 'send', by: 'api', to, t: control.elapsed(), detail: `sent a ${size} B ${m.kind} message to the ${to}` });
  }

  /** Closes an open session: a close frame (code, reason) to the side(s), then the TCP close. */
  async close(id: string, to: Side | 'both', code: number, reason = ''): Promise<void> {
    if (!isValidCloseCode(code)) throw new ActionError(400, `${code} is not a close code that may be sent (1000-1003, 1007-1014, 3000-4999)`);
    if (Buffer.byteLength(reason) > 123) throw new ActionError(400, 'a close reason has at most 123 bytes');
    const { control } = this.open(id);
    try {
      await control.closeNow(to, code, reason);
    } catch (err) {
      throw err instanceof ControlError ? new ActionError(409, `cannot close ${id} with a frame: ${err.message}`) : err;
    }
    // Reported once the close frame is on its way, not when it was only asked for.
    control.report({
      kind: 'close',
      by: 'api',
      to,
      t: control.elapsed(),
      detail: `sent close ${code}${reason ? ` "${reason}"` : ''} to ${to === 'both' ? 'both sides' : `the ${to}`}, then closed the connections`,
    });
  }
}

// --- HTTP ------------------------------------------------------------------------------------

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  // A body left unread (too large, too slow): the connection cannot be used again.
  const unread = status === 413 || status === 408;
  sendJson(res, status, body, {
    ...(status === 401 ? { 'WWW-Authenticate': 'Bearer realm="wstap"' } : {}),
    ...(unread ? { Connection: 'close' } : {}),
  });
  if (unread) res.once('finish', () => res.socket?.destroy());
}

function authorized(req: http.IncomingMessage, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1]!);
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** How long a body may take to arrive. */
const BODY_TIMEOUT_MS = 10_000;

function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    // Stop reading (the answer says why, then the connection closes: see reply()).
    const stop = (err: ActionError): void => {
      clearTimeout(timer);
      req.removeAllListeners('data');
      req.pause();
      reject(err);
    };
    const timer = setTimeout(() => stop(new ActionError(408, `the body did not arrive within ${BODY_TIMEOUT_MS / 1000} s`)), BODY_TIMEOUT_MS);
    timer.unref();
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY) {
        stop(new ActionError(413, `the body is larger than ${MAX_BODY} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      clearTimeout(timer);
      try {
        const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
        if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
        resolve(v as Record<string, unknown>);
      } catch {
        reject(new ActionError(400, 'the body must be a JSON object'));
      }
    });
    req.on('error', reject);
  });
}

const side = (v: unknown, field: string, both = false): Side | 'both' => {
  if (v === 'client' || v === 'server' || (both && v === 'both')) return v;
  throw new ActionError(400, `"${field}" must be "client"${both ? ', "server" or "both"' : ' or "server"'}`);
};

/** A mutating route: the token first, then the handler; its errors become answers. */
function guarded(token: string, fn: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>): Route['handle'] {
  return async (req, res) => {
    if (!authorized(req, token)) {
      req.resume();
      reply(res, 401, {
        error: 'wstap: this changes traffic: send Authorization: Bearer <control token> (printed at startup, or set with --control-token)',
      });
      return;
    }
    try {
      await fn(req, res);
    } catch (err) {
      if (err instanceof ActionError) reply(res, err.status, { error: `wstap: ${err.message}` });
      else if (err instanceof RuleError) reply(res, 400, { error: `wstap: ${err.message}`, position: err.position, expected: err.expected });
      else throw err;
    }
  };
}

/** POST /__wstap/api/sessions/<id>/send | /close */
async function sessionAction(actions: ProxyActions, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const path = (req.url ?? '').split('?')[0]!;
  const m = /^([^/]+)\/(send|close)$/.exec(path.slice(`${API_PREFIX}sessions/`.length));
  if (!m) throw new ActionError(404, `no such endpoint: POST ${path}`);
  const [, id, what] = m as unknown as [string, string, 'send' | 'close'];
  const body = await readJson(req);
  if (what === 'send') {
    const to = side(body['to'], 'to') as Side;
    let out: Extract<OutMessage, { kind: 'text' | 'binary' }>;
    if (typeof body['text'] === 'string') out = { kind: 'text', data: body['text'] };
    else if (typeof body['binary'] === 'string') out = { kind: 'binary', data: Buffer.from(body['binary'], 'base64') };
    else throw new ActionError(400, 'give "text" (a string) or "binary" (base64)');
    await actions.send(id, to, out);
    reply(res, 200, { sent: true, session: id, to });
    return;
  }
  const to = side(body['to'] ?? 'both', 'to', true);
  const code = body['code'] ?? 1000;
  if (typeof code !== 'number') throw new ActionError(400, '"code" must be a number');
  const reason = body['reason'] ?? '';
  if (typeof reason !== 'string') throw new ActionError(400, '"reason" must be a string');
  await actions.close(id, to, code, reason);
  reply(res, 200, { closed: true, session: id, to, code });
}

/** A held message as the API shows it: redacted like every read (a release without an edit forwards the original bytes). */
function heldView(h: HeldMessage): Record<string, unknown> {
  const base = {
    id: h.id,
    session: h.session,
    from: h.from,
    to: h.to,
    kind: h.kind,
    size: h.data.length,
    breakpoint: h.breakpoint,
    heldAt: h.heldAt,
  };
  // A credential its protocol carries (an MQTT password, a STOMP passcode) is masked, as in every output.
  const data = maskSecrets(h.data, h.secrets);
  if (h.kind === 'text') return { ...base, text: redactPayloadText(data.toString('utf8')) };
  return { ...base, base64: data.subarray(0, 64 * 1024).toString('base64'), ...(data.length > 64 * 1024 ? { truncated: true } : {}) };
}

/** POST /__wstap/api/held/<id> {"action":"forward"} | {"action":"forward","text"|"binary"} | {"action":"drop"} */
async function releaseHeld(bp: Breakpoints, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const id = Number((req.url ?? '').split('?')[0]!.slice(`${API_PREFIX}held/`.length));
  const body = await readJson(req);
  let how: Release;
  if (body['action'] === 'drop') how = { action: 'drop' };
  else if (body['action'] === 'forward') {
    if (typeof body['text'] === 'string') how = { action: 'forward', text: body['text'] };
    else if (typeof body['binary'] === 'string') how = { action: 'forward', binary: Buffer.from(body['binary'], 'base64') };
    else how = { action: 'forward' };
  } else throw new ActionError(400, '"action" must be "forward" (with "text" or "binary" to edit it) or "drop"');
  if (!Number.isInteger(id) || !bp.release(id, how)) throw new ActionError(404, `no held message ${id} (released, timed out, or its session closed)`);
  reply(res, 200, { released: id, action: how.action });
}

export function controlRoutes(actions: ProxyActions, token: string): Route[] {
  const { faults, breakpoints: bp } = actions;
  const list = (): unknown => ({ faults: faults.list().map((e) => ({ id: e.id, rule: e.rule.text })) });
  return [
    { method: 'GET', path: `${API_PREFIX}held`, handle: (_req, res) => reply(res, 200, { held: bp.held().map(heldView) }) },
    { method: 'POST', path: `${API_PREFIX}held/`, prefix: true, handle: guarded(token, (req, res) => releaseHeld(bp, req, res)) },
    { method: 'GET', path: `${API_PREFIX}intercepts`, handle: (_req, res) => reply(res, 200, { intercepts: bp.list() }) },
    {
      method: 'POST',
      path: `${API_PREFIX}intercepts`,
      handle: guarded(token, async (req, res) => {
        const body = await readJson(req);
        if (typeof body['conditions'] !== 'string')
          throw new ActionError(400, 'give "conditions", e.g. "to=server match=checkout" ("" holds every message)');
        const id = bp.add(body['conditions']);
        reply(res, 201, { id, conditions: bp.list().find((b) => b.id === id)!.conditions });
      }),
    },
    {
      method: 'DELETE',
      path: `${API_PREFIX}intercepts/`,
      prefix: true,
      handle: guarded(token, async (req, res) => {
        const id = Number((req.url ?? '').split('?')[0]!.slice(`${API_PREFIX}intercepts/`.length));
        if (!Number.isInteger(id) || !bp.remove(id)) throw new ActionError(404, 'no such breakpoint');
        reply(res, 200, { intercepts: bp.list() });
      }),
    },
    { method: 'GET', path: `${API_PREFIX}faults`, handle: (_req, res) => reply(res, 200, list()) },
    {
      method: 'POST',
      path: `${API_PREFIX}faults`,
      handle: guarded(token, async (req, res) => {
        const body = await readJson(req);
        if (typeof body['rule'] !== 'string') throw new ActionError(400, 'give "rule": the rule text, e.g. "delay=300ms to=client"');
        const id = faults.add(body['rule']);
        reply(res, 201, { id, rule: faults.list().find((e) => e.id === id)!.rule.text });
      }),
    },
    {
      method: 'DELETE',
      path: `${API_PREFIX}faults/`,
      prefix: true,
      handle: guarded(token, async (req, res) => {
        const id = Number((req.url ?? '').split('?')[0]!.slice(`${API_PREFIX}faults/`.length));
        if (!Number.isInteger(id) || !faults.remove(id)) throw new ActionError(404, 'no such fault rule');
        reply(res, 200, list());
      }),
    },
    { method: 'POST', path: `${API_PREFIX}sessions/`, prefix: true, handle: guarded(token, (req, res) => sessionAction(actions, req, res)) },
  ];
}
