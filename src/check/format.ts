/**
 * `wstap check` on a terminal: one line per step (verdict, name, what happened, time),
 * the findings under it with their fix, the origins table, and a last line with the
 * outcome.
 */
import { flat, formatFindings, type Palette } from '../log/pretty.js';
import type { OriginProbe } from './origins.js';
import type { CheckResult, CheckStep, Verdict } from './run-check.js';

const MARK: Record<Verdict, string> = { ok: '✔', warn: '▲', error: '✖', skip: '-' };

function color(p: Palette, v: Verdict): (s: string) => string {
  return v === 'ok' ? p.green : v === 'warn' ? p.yellow : v === 'error' ? p.red : p.dim;
}

function ms(n: number | undefined): string {
  if (n === undefined) return '';
  return n >= 100 ? `${Math.round(n)} ms` : `${n.toFixed(n >= 10 ? 1 : 2)} ms`;
}

export function formatHeader(url: string, p: Palette): string {
  return p.bold(`wstap check ${url}`);
}

export function formatStep(s: CheckStep, p: Palette): string {
  const c = color(p, s.verdict);
  const time = s.ms === undefined ? '' : `  ${p.dim(ms(s.ms))}`;
  let out = `  ${c(MARK[s.verdict])} ${c(s.name.padEnd(12))} ${s.verdict === 'skip' ? p.dim(`skipped: ${s.detail}`) : s.detail}${time}`;
  if (s.findings.length) out += formatFindings(s.findings, p, '      ');
  return out;
}

export function formatOrigins(origins: readonly OriginProbe[], p: Palette): string {
  const width = Math.max(...origins.map((o) => o.origin.length));
  return origins
    .map((o) => {
      const v: Verdict = o.verdict === 'accepted' ? 'ok' : o.verdict === 'rejected' ? 'warn' : 'error';
      const word = o.verdict === 'accepted' ? 'accepted' : o.verdict === 'rejected' ? 'rejected' : 'error   ';
      return `      ${color(p, v)(`${MARK[v]} ${o.origin.padEnd(width)}`)}  ${word}  ${p.dim(o.detail)}`;
    })
    .join('\n');
}

export function formatSummary(r: CheckResult, p: Palette): string {
  const failed = r.steps.filter((s) => s.verdict === 'error').map((s) => s.name);
  const warned = r.steps.filter((s) => s.verdict === 'warn').map((s) => s.name);
  if (failed.length) {
    // The real error first: the first step that failed says what happened, on the line a `| tail -1` keeps.
    const first = r.steps.find((s) => s.verdict === 'error')!;
    const also = failed.length > 1 ? `; also failed: ${failed.slice(1).join(', ')}` : '';
    return p.red(
      `✖ failed at ${first.name}: ${flat(first.detail)}${also}${warned.length ? ` (warnings: ${warned.join(', ')})` : ''} · ${ms(r.totalMs)} · exit 1`,
    );
  }
  if (warned.length) return p.yellow(`▲ healthy, with warnings: ${warned.join(', ')} · ${ms(r.totalMs)} · exit 0`);
  return p.green(`✔ healthy · ${ms(r.totalMs)} · exit 0`);
}

/** The whole report at once (the command prints it step by step instead). */
export function formatCheck(r: CheckResult, p: Palette): string {
  const lines = [formatHeader(r.url, p)];
  for (const s of r.steps) {
    lines.push(formatStep(s, p));
    if (s.name === 'origins' && r.origins) lines.push(formatOrigins(r.origins, p));
  }
  lines.push(formatSummary(r, p));
  return `${lines.join('\n')}\n`;
}
