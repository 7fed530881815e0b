/** `wstap export <file> --har <out>`: a recording as HAR 1.2 with Chrome's WebSocket messages. */
import fs from 'node:fs';
import { Command } from 'commander';
import { redactDeep } from '../../secrets/free-text.js';
import { WSTAP_VERSION } from '../../version.js';
import { action } from '../errors.js';
import { loadForCommand, SKIP_INVALID } from '../recording-file.js';

export function exportCommand(): Command {
  return new Command('export')
    .description('write a recording as HAR 1.2 with WebSocket messages (opens in Chrome DevTools)')
    .argument('<file>', 'a wstap recording (.jsonl)')
    .option(...SKIP_INVALID)
    .requiredOption('--har <out>', 'the HAR file to write')
    .action(
      action(async (file: string, o: { har: string; skipInvalid?: boolean }) => {
        const rec = loadForCommand(file, { skipInvalid: o.skipInvalid ?? false });
        const { recordingToHar } = await import('../../recording/har.js');
        // A HAR leaves wstap: every string passes the redaction step (a HAR loaded from Chrome was never redacted).
        const har = redactDeep(recordingToHar(rec, WSTAP_VERSION));
        fs.writeFileSync(o.har, `${JSON.stringify(har, null, 2)}\n`);
        process.stdout.write(`wrote ${o.har}: ${har.log.entries.length} WebSocket session(s)\n`);
        return 0;
      }),
    );
}
