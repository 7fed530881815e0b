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
    .option('--patterns-json', 'with --json: the patterns across sessions (reconnect loops, idle timeouts, dead heartbeats) instead of the sessions')
    .option('--operations-json', 'with --json: the application protocol operations (by protocol and name, with latency) instead of the sessions')
    .action(
      action(async (file: string, o: { json?: boolean; patternsJson?: boolean; operationsJson?: boolean; skipInvalid?: boolean }) => {
        const { formatOperations, formatReport, operationsOf, reportRecording } = await import('../../recording/report.js');
        const { patternsOf } = await import('../../sinks/patterns.js');
        const rec = loadForCommand(file, { skipInvalid: o.skipInvalid ?? false });
        // Close reasons and findings quote the wire, and a HAR from Chrome was never redacted: the redaction step.
        const rows = redactDeep(reportRecording(rec));
        // Found after the fact, and the same findings the proxy wrote into the recording if it was running.
        const patterns = patternsOf(rec);
        const operations = redactDeep(operationsOf(rec));
        if (o.json) {
          // --json keeps its array of sessions; --patterns-json gives the patterns, --operations-json the operations.
          process.stdout.write(`${JSON.stringify(o.patternsJson ? patterns : o.operationsJson ? operations : rows, null, 2)}\n`);
          return 0;
        }
        let text = formatReport(rows);
        if (operations.length) text += `\n\nOperations (application protocols):\n${formatOperations(operations)}`;
        if (patterns.length) {
          text += `\n\nPatterns across sessions:\n${patterns
            .map((p) => `  ${p.finding.code}: ${p.finding.message}\n    sessions: ${p.sessions.join(', ')}\n    fix: ${p.finding.hint}`)
            .join('\n')}`;
        }
        process.stdout.write(`${text}\n`);
        return 0;
      }),
    );
}
