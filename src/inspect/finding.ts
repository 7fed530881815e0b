/**
 * The one way a finding is made: its severity comes from the catalogue, never from the
 * inspector that raises it.
 */
import { FINDING_CATALOG, type Finding, type FindingCode } from '../session/finding.js';

export function finding<C extends FindingCode>(code: C, message: string, hint: string, extra?: Pick<Finding, 'rule'>): Finding<C> {
  const f: { -readonly [K in keyof Finding<C>]: Finding<C>[K] } = { code, severity: FINDING_CATALOG[code].severity, message, hint };
  if (extra?.rule !== undefined) f.rule = extra.rule;
  return f;
}
