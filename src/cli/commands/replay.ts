/**
 * `wstap replay <file> --target <ws-url>`: recorded sessions against a backend, compared with the
 * recording (exit 1 on a difference; 2 when the target cannot be reached or a --session is unknown).
 */
import { Command, Option } from 'commander';
import { action, UsageError } from '../errors.js';
import { checkWsUrl, collect, collectHeader, collectIgnore, collectSecret } from '../options.js';
import { loadForCommand, SKIP_INVALID } from '../recording-file.js';

interface ReplayCliOptions {
  target: string;
  session?: string[];
  header?: Record<string, string>;
  addHeader?: Record<string, string>;
  secret?: Record<string, string>;
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
      '--secret <name=value>',
      'a value the recording redacted, by name: a query parameter, header, cookie, JSON field or subprotocol marker, e.g. token=abc or "Authorization=Bearer abc" (repeatable)',
      collectSecret,
    )
    .option(
      '--header <line>',
      'a value for a handshake header the recorded session had, e.g. "Origin: http://localhost:3000" (repeatable)',
      collectHeader,
    )
    .option('--add-header <line>', 'a handshake header to send that the recorded session did not have (repeatable)', collectHeader)
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
        const missing = (o.session ?? []).filter((id) => !rec.sessions.some((s) => s.id === id));
        if (missing.length)
          throw new UsageError(`no session ${missing.join(', ')} in ${file} (it has ${rec.sessions.map((s) => s.id).join(', ') || 'none'})`);
        // Each command loads what it runs (ws, the HAR writer) when it runs: `wstap` as a proxy loads none of it.
        const { formatReplay, replayRecording } = await import('../../replay/replay-client.js');
        const result = await replayRecording(rec, {
          target: o.target,
          timing: o.timing,
          timeoutMs: o.timeout,
          ...(o.session ? { sessions: o.session } : {}),
          ...(o.header ? { headers: o.header } : {}),
          ...(o.addHeader ? { addHeaders: o.addHeader } : {}),
          ...(o.secret ? { secrets: o.secret } : {}),
          ...(o.ignore ? { ignore: o.ignore } : {}),
        });
        process.stdout.write(o.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatReplay(result)}\n`);
        // A target that cannot be reached is a setup error (2), not a difference in its answers (1).
        return result.unreachable ? 2 : result.ok ? 0 : 1;
      }),
    );
}
