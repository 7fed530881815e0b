import type { Finding, FindingCodeOf } from '../session/finding.js';
import type { OriginPattern } from '../wire/origin-pattern.js';
import type { Handshake, UpstreamAnswer } from '../session/session.js';

/** What inspectors may know beyond the handshake itself. */
export interface InspectContext {
  /** --allow-origin patterns; empty means no Origin policy is checked. */
  allowOrigins: readonly OriginPattern[];
  normalizeOrigin: boolean;
  /** Epoch milliseconds, for JWT expiry. */
  now: number;
  /** The backend's answer, when the findings are made after it came (the proxy's): what it accepted. */
  answer?: UpstreamAnswer;
}

/** A pure function from a client's upgrade request to findings. */
export type HandshakeInspector = (handshake: Handshake, ctx: InspectContext) => Finding<FindingCodeOf<'handshake'>>[];

/** A pure function from the backend's answer (and the request) to findings. */
export type AnswerInspector = (handshake: Handshake, answer: UpstreamAnswer) => Finding<FindingCodeOf<'answer'>>[];
