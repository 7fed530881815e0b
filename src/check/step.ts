/** What every step of `wstap check` reports, and the small helpers the steps share. */
import { worstSeverity, type Finding } from '../session/finding.js';
import type { CloseSummary } from '../session/summary.js';
import type { ContainerInfo } from '../inspect/registry.js';
import type { OriginProbe } from './origins.js';
import { roundMs } from './ws-client.js';
import { redactText } from '../secrets/free-text.js';

export type Verdict = 'ok' | 'warn' | 'error' | 'skip';
export type StepName = 'env-file' | 'environment' | 'resolve' | 'connect' | 'health' | 'handshake' | 'diagnose' | 'linger' | 'send' | 'origins';

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

const FAILING_CLOSE = new Set([1006, 1008]);

export function verdictOf(findings: readonly Finding[]): Verdict {
  const worst = worstSeverity(findings);
  return worst === 'error' ? 'error' : worst === 'warn' ? 'warn' : 'ok';
}

export function since(t: number): number {
  return roundMs(performance.now() - t);
}

export function oneLine(s: string, max = 160): string {
  // Redacted before it is cut: a secret cut in two is no longer recognisable.
  const flat = redactText(s.replace(/\s+/g, ' ').trim());
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

export function closeText(c: CloseSummary): string {
  if (c.initiator === 'none') return 'the connection ended without a close frame (1006)';
  return `closed by the server: ${c.code}${c.reason ? ` "${c.reason}"` : ''} (${c.meaning})`;
}

/** Verdict of a close that came while wstap check expected the connection to stay open. */
export function closeVerdict(c: CloseSummary, findings: readonly Finding[]): Verdict {
  if (findings.length > 0 || FAILING_CLOSE.has(c.code)) return 'error';
  return 'warn';
}

export function skipped(name: StepName, why: string): CheckStep {
  return { name, verdict: 'skip', detail: why, findings: [] };
}
