/**
 * One mapping from what a command ends with to the process's exit status, for every command:
 * 0 success, 1 a failure (a check that failed, a replay that differs, a port in use), 2 a
 * usage error (a bad option, an unreadable file). Commands return their status or throw.
 */
import { CommanderError, InvalidArgumentError } from 'commander';
import { ListenError } from '../proxy/listen.js';

/** A mistake in how the command was called: exit 2, the message alone. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A failure the command explains itself (a port in use): exit 1, the message alone. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
}

export interface ExitPlan {
  code: number;
  /** What goes to standard error (nothing when commander already printed it). */
  message?: string;
}

export function exitPlanFor(err: unknown): ExitPlan {
  // Thrown by wstap's own checks in an action (environment flags, files): not printed yet. (An
  // argParser's InvalidArgumentError is caught by commander, printed, and thrown again as a plain CommanderError.)
  if (err instanceof InvalidArgumentError || err instanceof UsageError) return { code: 2, message: `wstap: ${err.message}` };
  if (err instanceof CommanderError) {
    // Thrown by commander after it printed the problem (or the help).
    const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0;
    return { code: ok ? 0 : 2 };
  }
  if (err instanceof ListenError || err instanceof CommandError) return { code: 1, message: `wstap: ${err.message}` };
  const e = err as Error | undefined;
  return { code: 1, message: `wstap: ${e?.stack ?? String(err)}` };
}

/** Holds the status the running command returned, for main(). */
export const outcome: { code: number } = { code: 0 };

/** Wraps a command's action: its returned status becomes the process's. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number> | number): (...args: A) => Promise<void> {
  return async (...args: A) => {
    outcome.code = await fn(...args);
  };
}
