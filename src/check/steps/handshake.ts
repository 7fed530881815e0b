/** Step handshake: the upgrade a browser would send, the backend's answer judged by the proxy's inspectors. */
import { inspectHandshake } from '../../inspect/registry.js';
import { oneLine, since, verdictOf, type CheckStep } from '../step.js';
import { openWebSocket, type CheckSocket, type HandshakeOutcome, type HandshakeRequest } from '../ws-client.js';

/** The step, what the backend answered, and the open WebSocket when it upgraded. */
export async function handshakeStep(req: HandshakeRequest): Promise<{ step: CheckStep; outcome: HandshakeOutcome; socket?: CheckSocket }> {
  const t = performance.now();
  const outcome = await openWebSocket(req);
  const findings = [...inspectHandshake(outcome.handshake, { allowOrigins: [], normalizeOrigin: false, now: Date.now() }), ...outcome.findings];
  const ms = since(t);
  if (outcome.kind === 'failed') {
    return {
      step: { name: 'handshake', verdict: 'error', ms, detail: `no answer (${outcome.failure.code}: ${outcome.failure.message})`, findings },
      outcome,
    };
  }
  const { answer } = outcome;
  const status = `${answer.response.status} ${answer.response.reason}`.trim();
  const verdict = verdictOf(findings);
  if (outcome.socket) {
    const detail = `${status} · subprotocol ${answer.chosenProtocol ?? '-'} · extensions ${answer.chosenExtensions ?? '-'}`;
    return { step: { name: 'handshake', verdict, ms, detail, findings }, outcome, socket: outcome.socket };
  }
  const body = answer.bodyExcerpt?.trim();
  return { step: { name: 'handshake', verdict, ms, detail: body ? `${status}: "${oneLine(body, 120)}"` : status, findings }, outcome };
}
