/**
 * `wstap check` through the real bin for the check tests (test/cli/check-*.test.ts): its
 * JSON result parsed, its steps by name. The container detection is pinned off unless a
 * test sets WSTAP_IN_CONTAINER.
 */
import type { CheckResult, CheckStep } from '../../src/check/run-check.js';
import { runWstap } from './cli.js';
import type { Ran } from './process.js';

/** The demo backend's environment with the auth bypass on (development). */
export const BYPASS = { ALLOW_DEV_AUTH_BYPASS: 'true', WEBSOCKET_AUTH_BYPASS: 'true', ENVIRONMENT: 'development' };

/** wstap run to completion; a check may take a while (timeouts, lingering), so the limit is 15 s. */
export function wstap(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return runWstap(args, env, 15_000);
}

/** `wstap check ... --json`, parsed. */
export async function checkJson(args: string[], env: Record<string, string> = {}): Promise<{ r: Ran; result: CheckResult }> {
  const r = await wstap(['check', ...args, '--json'], env);
  let result: CheckResult;
  try {
    result = JSON.parse(r.stdout) as CheckResult;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { r, result };
}

export function step(result: CheckResult, name: CheckStep['name']): CheckStep {
  const s = result.steps.find((x) => x.name === name);
  if (!s) throw new Error(`no ${name} step in ${JSON.stringify(result.steps.map((x) => x.name))}`);
  return s;
}

export const codes = (s: { findings: { code: string }[] }): string[] => s.findings.map((f) => f.code);

export const wsUrl = (port: number, p = '/ws'): string => `ws://127.0.0.1:${port}${p}`;
