import type { Finding } from '../finding.js';
import type { Handshake } from '../session.js';
import { inspectAuth } from './auth.js';
import { inspectHandshakeValidity } from './handshake-validity.js';
import type { HandshakeInspector, InspectContext } from './inspector.js';
import { inspectOrigin } from './origin.js';

export type { AnswerInspector, HandshakeInspector, InspectContext } from './inspector.js';
export { inspectAnswer, expectedAccept, acceptProblems } from './answer.js';
export { handshakeProblems, invalidHandshakeFinding } from './handshake-validity.js';

/** Every handshake inspector, in the order their findings are listed. Adding one is one file and one line here. */
export const handshakeInspectors = {
  validity: inspectHandshakeValidity,
  origin: inspectOrigin,
  auth: inspectAuth,
} satisfies Record<string, HandshakeInspector>;

export function inspectHandshake(hs: Handshake, ctx: InspectContext): Finding[] {
  return Object.values(handshakeInspectors).flatMap((inspect) => inspect(hs, ctx));
}
