/**
 * One catalogue of finding codes, and every finding made by an inspector of the code's phase:
 * the README's table, `wstap findings` and the catalogue say the same; no code outside
 * src/inspect/ makes a finding.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FINDING_CATALOG, type FindingCode } from '../../../src/session/finding.js';
import { PROTOCOL_RULES } from '../../../src/tap/frame-rules.js';
import { ROOT, runBin } from '../../support/process.js';

const SRC = path.join(ROOT, 'src');
const codes = Object.keys(FINDING_CATALOG) as FindingCode[];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The rows of the README's findings table: code and severity. */
function readmeFindings(): { code: string; severity: string }[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Findings'), readme.indexOf('\n## ', readme.indexOf('\n## Findings') + 5));
  return [...section.matchAll(/^\| `([a-z-]+)` \| (info|warn|error) \|/gm)].map((m) => ({ code: m[1]!, severity: m[2]! }));
}

/** The code given to each finding(...) call in a source text. */
const madeIn = (text: string): string[] => [...text.matchAll(/\bfinding\(\s*'([a-z-]+)'/g)].map((m) => m[1]!);

describe('the finding catalogue', () => {
  it('the README table lists every code of the catalogue, with its severity, in its order', () => {
    expect(readmeFindings()).toEqual(codes.map((code) => ({ code, severity: FINDING_CATALOG[code].severity })));
  });

  it('the README lists every protocol rule code a protocol-error can name', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const listed = [...readme.matchAll(/^\| `([a-z0-9-]+)` \| [^|]+\|$/gm)].map((m) => m[1]!);
    expect(Object.keys(PROTOCOL_RULES).filter((r) => !listed.includes(r))).toEqual([]);
  });

  it('`wstap findings --json` prints the catalogue, and the table has a row per code with its level and phase', async () => {
    const json = await runBin(['findings', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(FINDING_CATALOG);
    const table = await runBin(['findings']);
    const rows = table.stdout.trim().split('\n').slice(1);
    expect(rows.map((r) => r.split(/\s+/).slice(0, 3))).toEqual(codes.map((c) => [c, FINDING_CATALOG[c].severity, FINDING_CATALOG[c].phase]));
  });

  it('only src/inspect/ makes findings, and every code is made there', () => {
    const made = new Map<string, string[]>();
    for (const f of files(SRC))
      for (const code of madeIn(readFileSync(f, 'utf8'))) made.set(code, [...(made.get(code) ?? []), path.relative(SRC, f)]);
    const outside = [...made].flatMap(([code, where]) => where.filter((w) => !w.startsWith(`inspect${path.sep}`)).map((w) => `${code} in ${w}`));
    expect(outside).toEqual([]);
    expect(codes.filter((c) => !made.has(c))).toEqual([]);
    expect([...made.keys()].filter((c) => !(c in FINDING_CATALOG))).toEqual([]);
  });

  it('the source scan sees a finding made outside the registry', () => {
    expect(madeIn(`return finding('close-abnormal', 'm', 'h');`)).toEqual(['close-abnormal']);
    expect(madeIn(`const f = finding(\n  'upstream-dns', x, y)`)).toEqual(['upstream-dns']);
  });
});
