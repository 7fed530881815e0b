/** `wstap serve <file>`: a mock backend that plays recorded sessions (exit 1 when a client sent something unexpected). */
import { Command, Option } from 'commander';
import type { ReplayServerEvent } from '../../replay/replay-server.js';
import { action, CommandError, UsageError } from '../errors.js';
import { collectIgnore, collectSecret, parsePort } from '../options.js';
import { loadForCommand, SKIP_INVALID } from '../recording-file.js';

interface ServeCliOptions {
  port: number;
  host: string;
  ignore?: string[];
  secret?: Record<string, string>;
  onUnexpected: 'close' | 'ignore';
  timing: 'causal' | 'original';
  skipInvalid?: boolean;
}

function describe(e: ReplayServerEvent): string {
  if (e.type === 'connection') return `connection on ${e.path}: playing session ${e.session}\n`;
  if (e.type === 'done')
    return `session ${e.session}: ${e.matched === e.expected ? 'all ' : ''}${e.matched} of ${e.expected} client messages matched\n`;
  if (e.type === 'refused') return `connection on ${e.path} refused (404): no recorded session for it (recorded: ${e.recordedPaths.join(', ')})\n`;
  if (e.type === 'redacted')
    return `session ${e.session}: server message #${e.index + 1} played with "[redacted]" for ${e.still.join(', ')} (give the value with --secret NAME=VALUE)\n`;
  const u = e.unexpected;
  let out = `session ${u.session}: unexpected client message #${u.index + 1}: ${JSON.stringify(u.received)}\n`;
  for (const d of u.diffs) out += `  ${d.path}: expected ${JSON.stringify(d.expected)}, got ${JSON.stringify(d.actual)}\n`;
  return out;
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('a mock backend that plays recorded sessions to WebSocket clients')
    .argument('<file>', 'a wstap recording (.jsonl) or a HAR file')
    .option(...SKIP_INVALID)
    .addOption(new Option('-p, --port <n>', 'port to listen on').default(8000).env('WSTAP_PORT').argParser(parsePort))
    .addOption(new Option('--host <addr>', 'address to listen on').default('127.0.0.1').env('WSTAP_HOST'))
    .option('--ignore <path>', 'a JSON path ignored when matching client messages (repeatable)', collectIgnore)
    .option(
      '--secret <name=value>',
      'a value the recording redacted, by name (a JSON field such as token): played in server messages, required in client ones (repeatable)',
      collectSecret,
    )
    .addOption(
      new Option('--on-unexpected <action>', 'close the connection (1008) or ignore the message').choices(['close', 'ignore']).default('close'),
    )
    .addOption(
      new Option('--timing <mode>', 'causal: answer at once; original: keep the recorded gaps').choices(['causal', 'original']).default('causal'),
    )
    .action(
      action(async (file: string, o: ServeCliOptions) => {
        const rec = loadForCommand(file, { skipInvalid: o.skipInvalid ?? false });
        const { createReplayServer, ReplayInputError } = await import('../../replay/replay-server.js');
        const server = await createReplayServer(rec, {
          port: o.port,
          host: o.host,
          onUnexpected: o.onUnexpected,
          timing: o.timing,
          ...(o.ignore ? { ignore: o.ignore } : {}),
          ...(o.secret ? { secrets: o.secret } : {}),
          onReport: (e) => void process.stdout.write(describe(e)),
        }).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'EADDRINUSE') throw new CommandError(`port ${o.port} on ${o.host} is already in use: choose another with --port`);
          if (err instanceof ReplayInputError) throw new UsageError(`${file}: ${err.message}`);
          throw err;
        });
        process.stdout.write(`wstap serve: ${rec.sessions.length} recorded session(s) on ${server.url} (Ctrl-C to stop)\n`);
        await new Promise<void>((resolve) => {
          const stop = (): void => void server.close().then(resolve);
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        return server.unexpected.length ? 1 : 0;
      }),
    );
}
