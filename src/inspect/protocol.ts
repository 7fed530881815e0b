/** Phase protocol: a frame that broke a rule of RFC 6455. */
import type { Finding, FindingCodeOf } from '../session/finding.js';
import type { ProtocolViolation } from '../session/message.js';
import { finding } from './finding.js';

const CLIENT_HINT =
  'A hand-written or buggy client: compare its framing with RFC 6455 section 5. Browsers and WebSocket libraries frame correctly; a proxy that rewrites the stream can break it too.';
const SERVER_HINT =
  'A hand-written or buggy server, or something in front of it that rewrites the stream: compare its framing with RFC 6455 section 5.';

/**
 * `where`: 'tunnel' when wstap forwarded the bytes (and stops decoding that side), 'check'
 * when wstap check's own connection received them.
 */
export function inspectViolation(v: ProtocolViolation, where: 'tunnel' | 'check'): Finding<FindingCodeOf<'protocol'>> {
  const message =
    where === 'tunnel'
      ? `The ${v.from} sent ${v.detail}. wstap forwarded the bytes unchanged and stopped decoding the ${v.from}'s frames.`
      : `The ${v.from} sent ${v.detail}.`;
  return finding('protocol-error', message, v.from === 'client' ? CLIENT_HINT : SERVER_HINT, { rule: v.rule });
}
