/** Loading the recording a command was given: a file that cannot be read or is not a recording is a usage error (exit 2). */
import { loadRecording, type ParseOptions } from '../recording/loader.js';
import type { Recording } from '../recording/format.js';
import { UsageError } from './errors.js';

export function loadForCommand(file: string, opts: ParseOptions = {}): Recording {
  let rec: Recording;
  try {
    rec = loadRecording(file, opts);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  for (const w of rec.warnings) process.stderr.write(`wstap: ${file}: ${w}\n`);
  return rec;
}

/** --skip-invalid, for every command that reads a recording. */
export const SKIP_INVALID = [
  '--skip-invalid',
  'skip lines that are not valid events (a corrupt file), with a count, instead of stopping at the first',
] as const;
