/**
 * The recording commands: replay (as a client), serve (as a mock backend), export
 * (HAR) and report. Each declares its options and calls the library.
 */
import fs from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parsePort } from '../options.js';
import { loadRecording } from '../../recording/loader.js';
import type { Recording } from '../../recording/format.js';
import { parseIgnore } from '../../replay/compare.js';
import { WSTAP_VERSION } from '../../version.js';

/** Exit codes: 0 match / ok, 1 mismatch or failure, 2 usage error. */
class UsageError extends Error {}

function load(file: string): Recording {
  try {
    const rec = loadRecording(file);
    for (const w of rec.warnings) process.stderr.write(`wstap: ${file}: ${w}\n`);
    return rec;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function checkIgnore(value: string, previous: string[] = []): string[] {
  try {
    parseIgnore(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return [...previous, value];
}

function parseHeader(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = value.indexOf(':');
  if (i <= 0) throw new InvalidArgumentError(`a header is "Name: value", not "${value}"`);
  return { ...previous, [value.slice(0, i).trim()]: value.slice(i + 1).trim() };
}

function checkWsUrl(value: string): string {
  try {
    const u = new URL(value);
    if (u.protocol === 'http:') u.protocol = 'ws:';
    if (u.protocol === 'https:') u.protocol = 'wss:';
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new Error();
    return u.toString();
  } catch {
    throw new InvalidArgumentError(`expected a ws:// or wss:// URL, such as ws://localhost:8000/ws`);
  }
}

async function guarded(run: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await run();
  } catch (err) {
    process.stderr.write(`wstap: ${(err as Error).message}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  }
}

export function replayCommand(): Command {
  return new Command('replay')
    .description('replay recorded sessions against a backend and compare its answers with the recording (exit 1 on a difference)')
    .argument('<file>', 'a wstap recording (.jsonl) or a HAR file')
    .addOption(new Option('--target <ws-url>', 'the backend; its path replaces the recorded one unless it is /').makeOptionMandatory().argParser(checkWsUrl))
    .option('--session <id>', 'replay only this session (repeatable)', collect)
    .option('--header <line>', 'a handshake header to send instead of the recorded (redacted) one, e.g. "Authorization: Bearer ..." (repeatable)', parseHeader)
    .option('--ignore <path>', 'a JSON path left out of the comparison, e.g. $.server_ts (repeatable)', checkIgnore)
    .addOption(new Option('--timing <mode>', 'causal: as fast as answers come; original: keep the recorded gaps').choices(['causal', 'original']).default('causal'))
    .option('--timeout <ms>', 'how long to wait for each expected answer', (v) => Number(v), 5000)
    .option('--json', 'the result as JSON')
    .action((file: string, o: { target: string; session?: string[]; header?: Record<string, string>; ignore?: string[]; timing: 'causal' | 'original'; timeout: number; json?: boolean }) =>
      guarded(async () => {
        const rec = load(file);
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

export function serveCommand(): Command {
  return new Command('serve')
    .description('a mock backend that plays recorded sessions to WebSocket clients')
    .argument('<file>', 'a wstap recording (.jsonl) or a HAR file')
    .addOption(new Option('-p, --port <n>', 'port to listen on').default(8000).env('WSTAP_PORT').argParser(parsePort))
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--ignore <path>', 'a JSON path ignored when matching client messages (repeatable)', checkIgnore)
    .addOption(new Option('--on-unexpected <action>', 'close the connection (1008) or ignore the message').choices(['close', 'ignore']).default('close'))
    .addOption(new Option('--timing <mode>', 'causal: answer at once; original: keep the recorded gaps').choices(['causal', 'original']).default('causal'))
    .action((file: string, o: { port: number; host: string; ignore?: string[]; onUnexpected: 'close' | 'ignore'; timing: 'causal' | 'original' }) =>
      guarded(async () => {
        const rec = load(file);
        const { createReplayServer } = await import('../../replay/replay-server.js');
        const server = await createReplayServer(rec, {
          port: o.port,
          host: o.host,
          onUnexpected: o.onUnexpected,
          timing: o.timing,
          ...(o.ignore ? { ignore: o.ignore } : {}),
          onReport: (e) => {
            if (e.type === 'connection') process.stdout.write(`connection on ${e.path}: playing session ${e.session}\n`);
            else if (e.type === 'done') process.stdout.write(`session ${e.session}: all ${e.matched} of ${e.expected} client messages matched\n`);
            else {
              const u = e.unexpected;
              process.stdout.write(`session ${u.session}: unexpected client message #${u.index + 1}: ${JSON.stringify(u.received)}\n`);
              for (const d of u.diffs) process.stdout.write(`  ${d.path}: expected ${JSON.stringify(d.expected)}, got ${JSON.stringify(d.actual)}\n`);
            }
          },
        }).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'EADDRINUSE') throw new Error(`port ${o.port} on ${o.host} is already in use: choose another with --port`);
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

export function exportCommand(): Command {
  return new Command('export')
    .description('write a recording as HAR 1.2 with WebSocket messages (opens in Chrome DevTools)')
    .argument('<file>', 'a wstap recording (.jsonl)')
    .requiredOption('--har <out>', 'the HAR file to write')
    .action((file: string, o: { har: string }) =>
      guarded(async () => {
        const rec = load(file);
        const { recordingToHar } = await import('../../recording/har.js');
        const har = recordingToHar(rec, WSTAP_VERSION);
        fs.writeFileSync(o.har, `${JSON.stringify(har, null, 2)}\n`);
        process.stdout.write(`wrote ${o.har}: ${har.log.entries.length} WebSocket session(s)\n`);
        return 0;
      }),
    );
}

export function reportCommand(): Command {
  return new Command('report')
    .description('a table of the recorded sessions: client, path, status, messages, close, latency, findings')
    .argument('<file>', 'a wstap recording (.jsonl) or a HAR file')
    .option('--json', 'as JSON')
    .action((file: string, o: { json?: boolean }) =>
      guarded(async () => {
        const { formatReport, reportRecording } = await import('../../recording/report.js');
        const rows = reportRecording(load(file));
        process.stdout.write(o.json ? `${JSON.stringify(rows, null, 2)}\n` : `${formatReport(rows)}\n`);
        return 0;
      }),
    );
}
