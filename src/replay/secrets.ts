/**
 * The values a recording had to redact, given back by name (--secret NAME=VALUE), and what a
 * redacted recorded value matches when no value is given: anything in its place, since the
 * recording cannot say what it was.
 */
import { REDACTED } from '../secrets/redact.js';

/** --secret values by lower-cased credential name. */
export type SecretValues = ReadonlyMap<string, string>;

export function secretValues(secrets: Record<string, string> = {}): SecretValues {
  return new Map(Object.entries(secrets).map(([k, v]) => [k.toLowerCase(), v]));
}

/** A JSON string field whose whole value the recorder redacted: "token": "[redacted]". */
const REDACTED_FIELD = /"((?:[^"\\]|\\.)*)"(\s*:\s*)"\[redacted\]"/g;

export interface FilledText {
  text: string;
  /** Field names still redacted (no --secret for them), and "a JWT" for a token redacted without a name. */
  still: string[];
}

/**
 * A recorded message's text with each redacted JSON field filled from the secret of its name.
 * A JWT the recorder found elsewhere in the text has no name: it stays redacted.
 */
export function fillText(text: string, secrets: SecretValues): FilledText {
  if (!text.includes(REDACTED)) return { text, still: [] };
  const still: string[] = [];
  const filled = text.replace(REDACTED_FIELD, (whole, key: string, colon: string) => {
    const secret = secrets.get(key.toLowerCase());
    if (secret === undefined) {
      still.push(`field ${key}`);
      return whole;
    }
    return `"${key}"${colon}${JSON.stringify(secret)}`;
  });
  const unnamed = filled.split(REDACTED).length - 1 - still.length;
  if (unnamed > 0) still.push('a JWT (no name to give it with --secret)');
  return { text: filled, still };
}

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Whether a value seen now fits a recorded one in which the recorder replaced secrets by [redacted]. */
export function fitsRedacted(recorded: string, actual: string): boolean {
  if (!recorded.includes(REDACTED)) return recorded === actual;
  const pattern = recorded.split(REDACTED).map(escapeRegex).join('[\\s\\S]*?');
  return new RegExp(`^${pattern}$`).test(actual);
}
