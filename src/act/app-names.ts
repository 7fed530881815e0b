/**
 * op= conditions: what a hooked session's messages are about in their application protocol
 * (an event name, an operation, a destination, a topic, a method). The hook reads the
 * messages before they are forwarded, so it decodes them itself, with a decoder of its own;
 * the tap's decoder reports the findings, this one only names.
 */
import { AppTap } from '../tap/app-tap.js';
import type { Session } from '../session/session.js';
import type { HookMessage } from '../tunnel/hooks.js';

export class AppNames {
  private readonly tap: AppTap;
  private seq = 0;
  /** The credentials of the last message read (byte ranges to mask when the message is shown, as every output does). */
  lastSecrets: readonly (readonly [number, number])[] | undefined;

  constructor(session: Session) {
    this.tap = new AppTap(session.app, () => {});
  }

  /** The names the message's packets are about (none when it has no protocol meaning). Call it for every message, in order. */
  of(m: HookMessage): string[] {
    const app = this.tap.observe({ from: m.from, kind: m.kind, data: m.data, truncated: false, lastByteAt: m.at }, ++this.seq);
    this.lastSecrets = app?.secrets;
    if (!app) return [];
    const out: string[] = [];
    for (const p of app.packets) if (p.name !== undefined) out.push(p.name);
    return out;
  }
}

/** Whether one of the names matches the condition's op= (a condition without op= matches everything). */
export const opMatches = (opRe: RegExp | undefined, names: readonly string[]): boolean => !opRe || names.some((n) => opRe.test(n));
