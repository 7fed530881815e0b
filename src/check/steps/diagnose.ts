/**
 * Step diagnose: the backend refused the upgrade without saying why (a bare 403). The same
 * request is sent again with one thing changed at a time: without the Origin, with other
 * Origins, on the paths backends usually serve WebSockets on, without the credential. The
 * first change that makes the backend upgrade proves the cause; when none does, the step says
 * what was ruled out and what remains.
 */
import { inspectProbedRejection, namedCause, type ProbedRejection } from '../../inspect/registry.js';
import { queryParams, TOKEN_PARAM } from '../../secrets/credentials.js';
import { SECRET_HEADER } from '../../secrets/credentials.js';
import { ORIGIN_PRESETS } from '../origins.js';
import { since, type CheckStep } from '../step.js';
import { openWebSocket, type HandshakeOutcome, type HandshakeRequest } from '../ws-client.js';

/** Where backends usually serve WebSockets. */
const USUAL_PATHS = ['/ws', '/ws/', '/websocket', '/socket', '/api/ws', '/ws/chat'];
/** An Origin no backend allows. */
const FOREIGN_ORIGIN = 'http://wstap-probe.invalid';

/** Whether a refusal is one this step can tell apart (a status and a body that name no cause). */
export function needsDiagnosis(outcome: HandshakeOutcome): boolean {
  if (outcome.kind !== 'answered') return false;
  const status = outcome.answer.response.status;
  return status !== 101 && status >= 400 && status < 500 && namedCause(outcome.handshake, outcome.answer) === undefined;
}

/** The status of the same upgrade with something changed (101: it upgraded; the socket is closed at once). */
async function statusOf(req: HandshakeRequest): Promise<number | string> {
  const outcome = await openWebSocket({ ...req, timeoutMs: Math.min(req.timeoutMs, 3000) });
  if (outcome.kind === 'failed') return outcome.failure.code;
  await outcome.socket?.close(200);
  return outcome.answer.response.status;
}

function withoutCredentials(req: HandshakeRequest): HandshakeRequest | undefined {
  const q = req.path.indexOf('?');
  const params = q < 0 ? [] : queryParams(req.path);
  const keptParams = params.filter(([k]) => !TOKEN_PARAM.test(k));
  const headers = req.headers.filter(([n]) => !SECRET_HEADER.test(n));
  if (keptParams.length === params.length && headers.length === req.headers.length) return undefined;
  const query = new URLSearchParams(keptParams).toString();
  return { ...req, path: `${q < 0 ? req.path : req.path.slice(0, q)}${query ? `?${query}` : ''}`, headers };
}

/** Other Origins to try: none, a foreign one, and the usual development origins. */
function otherOrigins(origins: readonly string[]): (readonly string[])[] {
  const tried = new Set(origins);
  const out: (readonly string[])[] = [];
  if (origins.length) out.push([]);
  for (const o of [FOREIGN_ORIGIN, ...(ORIGIN_PRESETS['docker-dev'] ?? [])]) if (!tried.has(o)) out.push([o]);
  return out;
}

function otherPaths(path: string): string[] {
  const q = path.indexOf('?');
  const bare = q < 0 ? path : path.slice(0, q);
  const query = q < 0 ? '' : path.slice(q);
  const toggled = bare.endsWith('/') && bare.length > 1 ? bare.slice(0, -1) : `${bare}/`;
  return [...new Set([toggled, ...USUAL_PATHS])].filter((p) => p !== bare).map((p) => `${p}${query}`);
}

/** The same request with a dummy credential in the usual places (a backend that only checks for one accepts it). */
function withDummyCredential(req: HandshakeRequest): HandshakeRequest {
  const sep = req.path.includes('?') ? '&' : '?';
  return { ...req, path: `${req.path}${sep}token=wstap-probe`, headers: [...req.headers, ['Authorization', 'Bearer wstap-probe']] };
}

/** The first change of one group that makes the backend upgrade, and what was tried. */
async function firstFlip(tries: { label: string; req: HandshakeRequest }[]): Promise<{ flipped?: string; tried: string[] }> {
  const tried: string[] = [];
  for (const t of tries) {
    const status = await statusOf(t.req);
    if (status === 101) return { flipped: `${t.label}: 101`, tried };
    tried.push(`${t.label}: ${status}`);
  }
  return { tried };
}

/**
 * One change at a time: the Origin, the credential, the path. A change that makes the backend
 * upgrade proves its cause; when several do, the Origin and the credential come before the
 * path (the path is what the client meant; the others are what it lacked).
 */
async function probe(req: HandshakeRequest, first: number): Promise<ProbedRejection> {
  const sent = `as sent: ${first}`;
  const origin = await firstFlip(
    otherOrigins(req.origins).map((origins) => ({ label: origins.length ? `Origin ${origins[0]}` : 'without an Origin', req: { ...req, origins } })),
  );
  const bare = withoutCredentials(req);
  const auth = await firstFlip(
    bare ? [{ label: 'without the credential', req: bare }] : [{ label: 'with a token (?token=, Authorization)', req: withDummyCredential(req) }],
  );
  const paths = otherPaths(req.path);
  const path = await firstFlip(paths.map((p) => ({ label: p.split('?')[0]!, req: { ...req, path: p } })));
  const flips = [
    origin.flipped && { cause: 'origin' as const, text: origin.flipped },
    auth.flipped && { cause: 'auth' as const, text: auth.flipped },
    path.flipped && { cause: 'path' as const, text: path.flipped },
  ].filter((f): f is { cause: 'origin' | 'auth' | 'path'; text: string } => Boolean(f));
  if (flips.length) {
    const out: ProbedRejection = { cause: flips[0]!.cause, evidence: [sent, ...flips.map((f) => f.text)] };
    if (path.flipped) out.workingPath = path.flipped.replace(/: 101$/, '');
    return out;
  }
  const summary = [
    `${origin.tried.length} other Origins (none, a foreign one, the usual development origins): none upgraded`,
    ...auth.tried,
    `the paths ${paths.map((p) => p.split('?')[0]).join(', ')}: none upgraded`,
  ];
  return { cause: undefined, evidence: [sent, ...summary] };
}

export async function diagnoseStep(req: HandshakeRequest, outcome: Extract<HandshakeOutcome, { kind: 'answered' }>): Promise<CheckStep> {
  const t = performance.now();
  const first = outcome.answer.response.status;
  const probed = await probe(req, first);
  const f = inspectProbedRejection(outcome.handshake, outcome.answer, probed);
  const detail = probed.cause
    ? `proven: ${probed.cause === 'auth' ? 'authentication' : `the ${probed.cause}`} (${probed.evidence.join('; ')})`
    : `no single change made the backend upgrade (${probed.evidence.join('; ')})`;
  return { name: 'diagnose', verdict: 'error', ms: since(t), detail, findings: [f] };
}
