/** Steps linger and send, on the open WebSocket: an immediate close (the 1008 of an auth check), then a reply to --send. */
import { inspectClose, inspectViolation } from '../../inspect/registry.js';
import { closeText, closeVerdict, oneLine, since, skipped, type CheckStep } from '../step.js';
import { roundMs, type CheckSocket } from '../ws-client.js';

export async function lingerStep(socket: CheckSocket, lingerMs: number): Promise<CheckStep> {
  const t = performance.now();
  await socket.waitForClose(lingerMs);
  const close = socket.closeSummary();
  if (socket.violation) {
    const v = socket.violation;
    return {
      name: 'linger',
      verdict: 'error',
      ms: since(t),
      detail: `protocol error from the server: ${v.detail}`,
      findings: [inspectViolation(v, 'check')],
    };
  }
  if (close) {
    const findings = inspectClose(close);
    return { name: 'linger', verdict: closeVerdict(close, findings), ms: since(t), detail: `${closeText(close)}, right after opening`, findings };
  }
  // Messages the server sent on its own (a greeting) are reported here, not taken for the reply to --send.
  const greeting = socket.takeQueued();
  const first = greeting[0];
  const what = first?.kind === 'text' ? oneLine(first.data.toString('utf8'), 100) : `${first?.size} bytes of binary`;
  const sent = first ? `; the server sent ${greeting.length} message${greeting.length > 1 ? 's' : ''}: ${what}` : '';
  return { name: 'linger', verdict: 'ok', ms: since(t), detail: `still open after ${lingerMs} ms${sent}`, findings: [] };
}

export async function sendStep(socket: CheckSocket, text: string | undefined, timeoutMs: number): Promise<CheckStep> {
  if (text === undefined) return skipped('send', 'no --send text given');
  if (socket.closed) return skipped('send', 'the connection is closed');
  const sentAt = socket.sendText(text);
  const reply = await socket.nextMessage(timeoutMs);
  if (reply) {
    const latency = roundMs(reply.lastByteAt - sentAt);
    const shown = reply.kind === 'text' ? oneLine(reply.data.toString('utf8')) : `${reply.size} bytes of binary`;
    return { name: 'send', verdict: 'ok', ms: latency, detail: `reply in ${latency} ms: ${shown}`, findings: [] };
  }
  const c = socket.closeSummary();
  if (!c)
    return { name: 'send', verdict: 'warn', ms: since(sentAt), detail: `no reply within ${timeoutMs} ms (the connection stays open)`, findings: [] };
  const findings = inspectClose(c);
  return { name: 'send', verdict: closeVerdict(c, findings), ms: since(sentAt), detail: `no reply: ${closeText(c)}`, findings };
}
