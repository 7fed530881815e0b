/** Loading the recording a command was given: a file that cannot be read or is not a recording is a usage error (exit 2). */
import { loadRecording } from '../recording/loader.js';
import type { Recording } from '../recording/format.js';
import { UsageError } from './errors.js';

export function loadForCommand(file: string): Recording {
  let rec: Recording;
  try {
    rec = loadRecording(file);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  for (const w of rec.warnings) process.stderr.write(`wstap: ${file}: ${w}\n`);
  return rec;
}
