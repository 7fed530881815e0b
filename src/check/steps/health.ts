/** Step health: GET the backend's health path on the same host and port first (--health). */
import { inspectHealthAnswer, inspectUpstreamFailure } from '../../inspect/registry.js';
import { redactTarget } from '../../secrets/redact.js';
import { failureOf } from '../../upgrade/upstream.js';
import type { Target } from '../../wire/target.js';
import { oneLine, since, type CheckStep } from '../step.js';

function healthUrl(target: Target, health: string): string {
  if (/^https?:\/\//i.test(health)) return health;
  return `${target.url}${health.startsWith('/') ? '' : '/'}${health}`;
}

export async function healthStep(target: Target, health: string, timeoutMs: number, insecure: boolean): Promise<CheckStep> {
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
    return {
      name: 'health',
      verdict: 'error',
      ms: since(t),
      detail: `GET ${shownUrl} failed (${failure.code})`,
      findings: [inspectUpstreamFailure(target, failure, phase, 'check')],
    };
  } finally {
    await agent.close().catch(() => {});
  }
}
