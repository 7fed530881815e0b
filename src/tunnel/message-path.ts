/**
 * The message path of the tunnel (placeholder: see the message seam work).
 */
import type { DeflateParams } from '../wire/extensions.js';
import type { MessageHandler } from './hooks.js';

export interface MessagePathOptions {
  /** The hooks that took this session, in order. */
  handlers: readonly MessageHandler[];
  /** permessage-deflate as negotiated, or undefined. */
  deflate: DeflateParams | undefined;
  /** A hook threw or rejected (the message passed). */
  onHookFailure(error: unknown): void;
}
