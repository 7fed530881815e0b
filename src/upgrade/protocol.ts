/** The application protocol of an upgrade, as its handshake and --protocol name it. */
import { detectFromHandshake } from '../protocols/registry.js';
import type { AppDetection } from '../session/app.js';
import type { Session } from '../session/session.js';
import type { RelayContext } from './context.js';

/** The application protocol the handshake names (--protocol, the subprotocol, the path); 'none' when --protocol turned it off. */
export function protocolOf(ctx: RelayContext, s: Pick<Session, 'handshake' | 'upstream'>): AppDetection | 'none' | undefined {
  const chosen = s.upstream?.chosenProtocol;
  return detectFromHandshake(
    { target: s.handshake.request.target, offered: s.handshake.offeredProtocols, ...(chosen !== undefined ? { chosen } : {}) },
    ctx.config.tap.protocols,
  );
}
