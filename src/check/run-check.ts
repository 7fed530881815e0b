/**
 * `wstap check`: one-command diagnosis of a WebSocket endpoint, step by step (steps/), with
 * the proxy's findings. Each step has a verdict and its time; a step that cannot run because
 * an earlier one failed is skipped, with the reason.
 */
import { redactTarget } from '../secrets/redact.js';
import type { OriginProbe } from './origins.js';
import { environmentStep, envFileStep } from './steps/environment.js';
import { diagnoseStep, needsDiagnosis } from './steps/diagnose.js';
import { handshakeStep } from './steps/handshake.js';
import { healthStep } from './steps/health.js';
import { originsStep } from './steps/origins.js';
import { connectStep, resolveStep } from './steps/reach.js';
import { lingerStep, sendStep } from './steps/session.js';
import { since, skipped, type CheckOptions, type CheckResult, type CheckStep } from './step.js';
import { parseCheckUrl } from './url.js';
import type { HandshakeRequest } from './ws-client.js';

export type { CheckOptions, CheckResult, CheckStep, StepName, Verdict } from './step.js';
export { CheckUrlError, parseCheckUrl, type CheckUrl } from './url.js';

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

  if (opts.env) add(envFileStep(opts.env));
  const environment = await environmentStep(target, path, opts.container);
  if (environment) add(environment);

  const resolved = add(await resolveStep(target, timeoutMs));
  const connected =
    resolved.verdict === 'error' ? add(skipped('connect', 'the host name does not resolve')) : add(await connectStep(target, timeoutMs, insecure));
  const reachable = connected.verdict !== 'error' && connected.verdict !== 'skip';
  const unreachableWhy = resolved.verdict === 'error' ? 'the host name does not resolve' : 'no connection';

  if (!opts.health) add(skipped('health', 'no --health path given (e.g. --health /health)'));
  else add(reachable ? await healthStep(target, opts.health, timeoutMs, insecure) : skipped('health', unreachableWhy));

  const base: Omit<HandshakeRequest, 'origins'> = {
    target,
    path,
    headers: opts.headers ?? [],
    subprotocols: opts.subprotocols ?? [],
    insecure,
    timeoutMs,
  };
  const handshake: Partial<Awaited<ReturnType<typeof handshakeStep>>> & { step: CheckStep } = reachable
    ? await handshakeStep({ ...base, origins: opts.origins ?? [] })
    : { step: skipped('handshake', unreachableWhy) };
  add(handshake.step);
  if (handshake.outcome?.kind === 'answered' && needsDiagnosis(handshake.outcome)) {
    add(await diagnoseStep({ ...base, origins: opts.origins ?? [] }, handshake.outcome));
  }
  const socket = handshake.socket;
  if (!socket) {
    add(skipped('linger', 'the WebSocket did not open'));
    add(skipped('send', 'the WebSocket did not open'));
  } else {
    add(await lingerStep(socket, lingerMs));
    add(await sendStep(socket, opts.send, timeoutMs));
    await socket.close(Math.min(1000, timeoutMs));
  }

  let origins: OriginProbe[] | undefined;
  if (opts.originProbes?.length) {
    if (!reachable) add(skipped('origins', unreachableWhy));
    else {
      const o = await originsStep(base, opts.originProbes, lingerMs);
      origins = o.probes;
      add(o.step);
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
