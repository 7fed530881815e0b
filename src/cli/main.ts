/**
 * The command line: the program and its commands (one file each under commands/), and main(),
 * which the bin calls. One mapping from how a command ended to the exit status (errors.ts).
 */
import { Command } from 'commander';
import { WSTAP_VERSION } from '../version.js';
import { checkCommand } from './commands/check.js';
import { demoCommand } from './commands/demo.js';
import { exportCommand } from './commands/export.js';
import { findingsCommand } from './commands/findings.js';
import { proxyCommand } from './commands/proxy.js';
import { replayCommand } from './commands/replay.js';
import { reportCommand } from './commands/report.js';
import { serveCommand } from './commands/serve.js';
import { exitPlanFor, outcome } from './errors.js';

/** commander's error output on one line, with its suggestion when it has one (the usage text is for --help). */
function firstLine(str: string, write: (s: string) => void): void {
  const lines = str.split('\n').filter(Boolean);
  const hint = lines.find((l) => /^\(Did you mean /.test(l));
  write(`${lines[0]}${hint ? ` ${hint.replace('(Did you mean', '(did you mean')}` : ''}\n`);
}

/** The closest of the names within two edits, for "did you mean". */
export function closest(word: string, names: readonly string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0]![j] = j;
    for (let i = 1; i <= a.length; i++) {
      for (let j = 1; j <= b.length; j++) {
        d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      }
    }
    return d[a.length]![b.length]!;
  };
  let best: { name: string; d: number } | undefined;
  for (const n of names) {
    const d = distance(word, n);
    if (d <= 2 && (!best || d < best.d)) best = { name: n, d };
  }
  return best?.name;
}

/**
 * The proxy is the default command, so `wstap chek` would reach it as a stray argument: a first
 * word that is no command and no option is an unknown command, with a suggestion.
 */
function unknownCommand(program: Command, argv: readonly string[]): string | undefined {
  const word = argv[2];
  if (word === undefined || word.startsWith('-')) return undefined;
  const names = program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
  if (names.includes(word) || word === 'help') return undefined;
  const guess = closest(word, names);
  return `error: unknown command '${word}'${guess ? ` (did you mean ${guess}?)` : ''}; wstap --help lists the commands`;
}

export function buildProgram(): Command {
  const program = new Command('wstap')
    .description('An intercepting WebSocket debugging proxy: faithful forwarding and an annotated handshake log.')
    .version(WSTAP_VERSION, '-v, --version')
    .exitOverride()
    .configureOutput({ outputError: firstLine });
  const proxy = proxyCommand('proxy');
  program.addCommand(proxy, { isDefault: true });
  program.addHelpText('after', () => `\nWithout a command, wstap runs the proxy:\n\n${proxy.helpInformation()}`);
  for (const c of [demoCommand(), findingsCommand(), checkCommand(), replayCommand(), serveCommand(), exportCommand(), reportCommand()])
    program.addCommand(c);
  for (const c of program.commands) c.exitOverride().configureOutput({ outputError: firstLine });
  return program;
}

/** Runs the command line and exits with its status once standard output has been written. */
export async function main(argv: readonly string[]): Promise<never> {
  // `wstap check ... | head -1`: the reader may go before wstap is done writing. That is no
  // error of the command's: stop writing, keep its exit status, print no stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
  let code: number;
  try {
    const program = buildProgram();
    const unknown = unknownCommand(program, argv);
    if (unknown) {
      process.stderr.write(`${unknown}\n`);
      process.exit(2);
    }
    await program.parseAsync([...argv]);
    code = outcome.code;
  } catch (err) {
    const plan = exitPlanFor(err);
    if (plan.message) process.stderr.write(`${plan.message}\n`);
    code = plan.code;
  }
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}
