import type { Finding } from '../session/finding.js';
import type { Handshake } from '../session/session.js';
import { inspectAuth } from './handshake/auth.js';
import { inspectHandshakeValidity } from './handshake/validity.js';
import type { HandshakeInspector, InspectContext } from './types.js';
import { inspectOrigin } from './handshake/origin.js';

export type { AnswerInspector, HandshakeInspector, InspectContext } from './types.js';
export { inspectAnswer, expectedAccept, acceptProblems } from './answer.js';
export { handshakeProblems, invalidHandshakeFinding } from './handshake/validity.js';

/** Every handshake inspector, in the order their findings are listed. Adding one is one file and one line here. */
export const handshakeInspectors = {
  validity: inspectHandshakeValidity,
  origin: inspectOrigin,
  auth: inspectAuth,
} satisfies Record<string, HandshakeInspector>;

export function inspectHandshake(hs: Handshake, ctx: InspectContext): Finding[] {
  return Object.values(handshakeInspectors).flatMap((inspect) => inspect(hs, ctx));
}
