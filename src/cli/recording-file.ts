/** Loading the recording a command was given: a file that cannot be read or is not a recording is a usage error (exit 2). */
import { HarError } from '../recording/har.js';
import { loadRecording, RecordingError, type ParseOptions } from '../recording/loader.js';
import type { Recording } from '../recording/format.js';
import { UsageError } from './errors.js';

export function loadForCommand(file: string, opts: ParseOptions = {}): Recording {
  let rec: Recording;
  try {
    rec = loadRecording(file, opts);
  } catch (err) {
    // The loaders' own errors name the file, the line or entry and the field: one line, exit 2. Anything
    // else is a wstap bug, reported as one (exit 1, with the stack).
    if (err instanceof RecordingError || err instanceof HarError) throw new UsageError(err.message);
    throw err;
  }
  for (const w of rec.warnings) process.stderr.write(`wstap: ${file}: ${w}\n`);
  return rec;
}

/** --skip-invalid, for every command that reads a recording. */
export const SKIP_INVALID = [
  '--skip-invalid',
  'skip lines or HAR entries that are not valid (a corrupt file), with a count, instead of stopping at the first',
] as const;
