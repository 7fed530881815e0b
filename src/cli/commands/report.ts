/** `wstap report <file>`: one row per recorded session. */
import { Command } from 'commander';
import { action } from '../errors.js';
import { loadForCommand, SKIP_INVALID } from '../recording-file.js';
import { redactDeep } from '../../secrets/free-text.js';

export function reportCommand(): Command {
  return new Command('report')
    .description('a table of the recorded sessions: client, path, status, messages, close, latency, findings')
    .argument('<file>', 'a wstap recording (.jsonl) or a HAR file')
    .option(...SKIP_INVALID)
    .option('--json', 'as JSON')
    .action(
      action(async (file: string, o: { json?: boolean; skipInvalid?: boolean }) => {
        const { formatReport, reportRecording } = await import('../../recording/report.js');
        // Close reasons and findings quote the wire, and a HAR from Chrome was never redacted: the redaction step.
        const rows = redactDeep(reportRecording(loadForCommand(file, { skipInvalid: o.skipInvalid ?? false })));
        process.stdout.write(o.json ? `${JSON.stringify(rows, null, 2)}\n` : `${formatReport(rows)}\n`);
        return 0;
      }),
    );
}
