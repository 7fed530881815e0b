/** Step origins (--origins): one upgrade per Origin; which ones the backend accepts. */
import { probeOrigins, type OriginProbe } from '../origins.js';
import { since, type CheckStep, type Verdict } from '../step.js';
import type { HandshakeRequest } from '../ws-client.js';

export async function originsStep(
  base: Omit<HandshakeRequest, 'origins'>,
  origins: readonly string[],
  lingerMs: number,
): Promise<{ step: CheckStep; probes: OriginProbe[] }> {
  const t = performance.now();
  const probes = await probeOrigins(base, [...origins], Math.min(lingerMs, 1000));
  const accepted = probes.filter((o) => o.verdict === 'accepted');
  const detail = `${accepted.length} of ${probes.length} accepted${accepted.length ? `: ${accepted.map((o) => o.origin).join(', ')}` : ''}`;
  let verdict: Verdict = accepted.length === probes.length ? 'ok' : accepted.length > 0 ? 'warn' : 'error';
  // Findings only when nothing works: one representative (the hint names the Origin to add).
  const findings = verdict === 'error' ? (probes.find((o) => o.findings.length)?.findings ?? []) : [];
  if (verdict === 'error' && findings.length === 0) verdict = 'warn';
  return { step: { name: 'origins', verdict, ms: since(t), detail, findings }, probes };
}
