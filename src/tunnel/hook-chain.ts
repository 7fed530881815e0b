/**
 * The handlers of one session, chained: each sees the messages the one before it let
 * through (a 'replace' with several messages gives each to the next handler; 'pass' with
 * `add` gives the message, then the added ones). Handlers that answer at once run on the spot;
 * a promise suspends the run until it settles (the caller holds the direction meanwhile).
 * A handler that throws, rejects or answers with something that is no verdict is reported once,
 * its message passes, and it is not called again in this session.
 */
import type { Side } from '../session/message.js';
import { closePayload, opcodeName } from '../wire/ws-frame.js';
import type { HookMessage, HookVerdict, MessageHandler, OutMessage } from './hooks.js';

/** A message wstap encodes itself (a replacement, an added or an injected one): opcode and payload. */
export interface Out {
  readonly opcode: number;
  readonly payload: Buffer;
}

/** Stands for the received message in a chain's output: it goes out as received. */
export const ORIGINAL = Symbol('wstap.original');
export type Item = typeof ORIGINAL | Out;

const OPCODE_OF_KIND = { text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** The frame payload of a message to send; throws when it cannot be framed. */
export function toOut(m: OutMessage): Out {
  const opcode = (OPCODE_OF_KIND as Record<string, number | undefined>)[m.kind];
  if (opcode === undefined) throw new Error(`cannot send a message of kind ${JSON.stringify(m.kind)}`);
  let payload: Buffer;
  if (m.kind === 'close') {
    if (m.code !== undefined && !(Number.isInteger(m.code) && m.code >= 0 && m.code <= 0xffff))
      throw new Error(`close code ${m.code} does not fit in a close frame`);
    if (m.code === undefined && m.reason) throw new Error('a close reason needs a close code');
    payload = closePayload(m.code, m.reason);
  } else if (m.kind === 'text') payload = typeof m.data === 'string' ? Buffer.from(m.data, 'utf8') : m.data;
  else payload = m.data ?? Buffer.alloc(0);
  if (!Buffer.isBuffer(payload)) throw new Error(`the data of a ${m.kind} message must be a Buffer`);
  if (opcode >= 0x8 && payload.length > 125)
    throw new Error(`a ${m.kind} payload has at most 125 bytes (RFC 6455 5.5); this one has ${payload.length}`);
  return { opcode, payload };
}

/** A received message as handlers see it. */
export function hookMessage(from: Side, opcode: number, data: Buffer, index: number, at: number): HookMessage {
  const kind = opcodeName(opcode) as HookMessage['kind'];
  if (kind !== 'close' || data.length < 2) return { from, kind, data, index, at };
  return { from, kind, data, closeCode: data.readUInt16BE(0), closeReason: data.toString('utf8', 2), index, at };
}

/** Where a run stands: handler h is at items[i]; what it let through so far is in `next`. */
interface Run {
  readonly m: HookMessage;
  items: Item[];
  next: Item[];
  h: number;
  i: number;
}

const isThenable = (v: unknown): v is PromiseLike<HookVerdict | undefined> =>
  typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';

export class HookChain {
  /** Handlers that failed: not called again in this session (both directions). */
  private readonly failed: boolean[];

  constructor(
    private readonly handlers: readonly MessageHandler[],
    private readonly onFailure: (error: unknown) => void,
  ) {
    this.failed = handlers.map(() => false);
  }

  /** What becomes of message m: the items to send in its place, at once or when the handlers that answered with a promise have settled. */
  run(m: HookMessage): readonly Item[] | Promise<readonly Item[]> {
    const r: Run = { m, items: [ORIGINAL], next: [], h: 0, i: 0 };
    const wait = this.advance(r);
    return wait === undefined ? r.items : this.finish(r, wait);
  }

  private async finish(r: Run, wait: Promise<void>): Promise<readonly Item[]> {
    for (let w: Promise<void> | undefined = wait; w !== undefined; w = this.advance(r)) await w;
    return r.items;
  }

  /** Runs handlers until the chain is done (undefined) or a handler answered with a promise (settled: resume). */
  private advance(r: Run): Promise<void> | undefined {
    while (r.h < this.handlers.length) {
      const handler = this.handlers[r.h]!;
      while (r.i < r.items.length) {
        const item = r.items[r.i]!;
        if (this.failed[r.h]) {
          this.apply(r, item, undefined);
          continue;
        }
        let v: ReturnType<MessageHandler>;
        try {
          v = handler(item === ORIGINAL ? r.m : this.view(r.m, item));
        } catch (err) {
          this.fail(r.h, err);
          v = undefined;
        }
        if (isThenable(v)) {
          const h = r.h;
          return Promise.resolve(v).then(
            (verdict) => this.apply(r, item, verdict),
            (err: unknown) => {
              this.fail(h, err);
              this.apply(r, item, undefined);
            },
          );
        }
        this.apply(r, item, v);
      }
      r.items = r.next;
      r.next = [];
      r.h++;
      r.i = 0;
    }
    return undefined;
  }

  /** Handler r.h answered `v` for `item`: what it lets through goes to the next handler. */
  private apply(r: Run, item: Item, v: HookVerdict | undefined): void {
    r.i++;
    if (v === undefined) {
      r.next.push(item);
      return;
    }
    try {
      if (v.action === 'pass') {
        const added = (v.add ?? []).map(toOut);
        r.next.push(item, ...added);
      } else if (v.action === 'replace') r.next.push(...v.with.map(toOut));
      else if (v.action !== 'drop') throw new Error(`a message hook answered with no verdict: ${JSON.stringify(v)}`);
    } catch (err) {
      this.fail(r.h, err);
      r.next.push(item);
    }
  }

  private fail(h: number, err: unknown): void {
    if (this.failed[h]) return;
    this.failed[h] = true;
    this.onFailure(err);
  }

  /** A message an earlier handler put in as the next handler sees it. */
  private view(m: HookMessage, out: Out): HookMessage {
    return hookMessage(m.from, out.opcode, out.payload, m.index, m.at);
  }
}
