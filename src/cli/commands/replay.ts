/** `wstap replay <file> --target <ws-url>`: recorded sessions against a backend, compared with the recording (exit 1 on a difference). */
import { Command, Option } from 'commander';
import { action } from '../errors.js';
import { checkWsUrl, collect, collectHeader, collectIgnore } from '../options.js';
import { loadForCommand, SKIP_INVALID } from '../recording-file.js';

interface ReplayCliOptions {
  target: string;
  session?: string[];
  header?: Record<string, string>;
  ignore?: string[];
  timing: 'causal' | 'original';
  timeout: number;
  json?: boolean;
  skipInvalid?: boolean;
}

export function replayCommand(): Command {
  return new Command('replay')
    .description('replay recorded sessions against a backend and compare its answers with the recording (exit 1 on a difference)')
    .argument('<file>', 'a wstap recording (.jsonl) or a HAR file')
    .option(...SKIP_INVALID)
    .addOption(
      new Option('--target <ws-url>', 'the backend; its path replaces the recorded one unless it is /').makeOptionMandatory().argParser(checkWsUrl),
    )
    .option('--session <id>', 'replay only this session (repeatable)', collect)
    .option(
      '--header <line>',
      'a handshake header to send instead of the recorded (redacted) one, e.g. "Authorization: Bearer ..." (repeatable)',
      collectHeader,
    )
    .option('--ignore <path>', 'a JSON path left out of the comparison, e.g. $.server_ts (repeatable)', collectIgnore)
    .addOption(
      new Option('--timing <mode>', 'causal: as fast as answers come; original: keep the recorded gaps')
        .choices(['causal', 'original'])
        .default('causal'),
    )
    .option('--timeout <ms>', 'how long to wait for each expected answer', (v) => Number(v), 5000)
    .option('--json', 'the result as JSON')
    .action(
      action(async (file: string, o: ReplayCliOptions) => {
        const rec = loadForCommand(file, { skipInvalid: o.skipInvalid ?? false });
        // Each command loads what it runs (ws, the HAR writer) when it runs: `wstap` as a proxy loads none of it.
        const { formatReplay, replayRecording } = await import('../../replay/replay-client.js');
        const result = await replayRecording(rec, {
          target: o.target,
          timing: o.timing,
          timeoutMs: o.timeout,
          ...(o.session ? { sessions: o.session } : {}),
          ...(o.header ? { headers: o.header } : {}),
          ...(o.ignore ? { ignore: o.ignore } : {}),
        });
        process.stdout.write(o.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatReplay(result)}\n`);
        return result.ok ? 0 : 1;
      }),
    );
}
