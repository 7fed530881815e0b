/** Steps env-file (--dotenv: the guide's variables) and environment (running in a container, with a localhost target). */
import { detectContainer, diagnoseEnv, isLocalhost, localhostInContainerFinding, type ContainerInfo } from '../../inspect/registry.js';
import { probeConnect } from '../../upgrade/upstream.js';
import type { Target } from '../../wire/target.js';
import { verdictOf, type CheckStep } from '../step.js';

const CHECKLIST = 'NEXT_PUBLIC_WS_URL, NEXT_PUBLIC_API_URL, NEXT_PUBLIC_WEBSOCKET_URL, ALLOW_DEV_AUTH_BYPASS, WEBSOCKET_AUTH_BYPASS, ENVIRONMENT';

export function envFileStep(env: { source: string; vars: ReadonlyMap<string, string> }): CheckStep {
  const d = diagnoseEnv(env.vars, env.source);
  const names = Object.entries(d.variables).map(([k, v]) => `${k}=${v}`);
  return {
    name: 'env-file',
    verdict: names.length ? verdictOf(d.findings) : 'warn',
    ms: 0,
    detail: names.length ? `${env.source}: ${names.join(' ')}` : `${env.source} sets none of the checklist variables (${CHECKLIST})`,
    findings: d.findings,
  };
}

/** Undefined when wstap does not run in a container (nothing to say). */
export async function environmentStep(target: Target, path: string, info: ContainerInfo = detectContainer()): Promise<CheckStep | undefined> {
  if (!info.inContainer) return undefined;
  // A backend in this same container (a dev container) answers on localhost: then localhost is right.
  const answers = isLocalhost(target.host) && (await probeConnect(target, 500)).reachable;
  const f = localhostInContainerFinding(target, { command: 'check', path: path.split('?')[0]!, answers }, info);
  return {
    name: 'environment',
    verdict: f ? 'warn' : 'ok',
    ms: 0,
    detail: `in a container (${info.evidence ?? 'detected'}); target ${target.host}${f ? ' is this container' : ''}`,
    findings: f ? [f] : [],
  };
}
