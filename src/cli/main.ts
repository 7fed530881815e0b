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

/** commander's error output, one line (its usage text is for --help). */
const firstLine = (str: string, write: (s: string) => void): void => write(`${str.split('\n').filter(Boolean)[0]}\n`);

export function buildProgram(): Command {
  const program = new Command('wstap')
    .description('An intercepting WebSocket debugging proxy: faithful forwarding and an annotated handshake log.')
    .version(WSTAP_VERSION, '-v, --version')
    .exitOverride()
    .configureOutput({ outputError: firstLine });
  const proxy = proxyCommand('proxy');
  program.addCommand(proxy, { isDefault: true });
  program.addHelpText('after', () => `\nWithout a command, wstap runs the proxy:\n\n${proxy.helpInformation()}`);
  for (const c of [demoCommand(), findingsCommand(), checkCommand(), replayCommand(), serveCommand(), exportCommand(), reportCommand()]) program.addCommand(c);
  for (const c of program.commands) c.exitOverride().configureOutput({ outputError: firstLine });
  return program;
}

/** Runs the command line and exits with its status once standard output has been written. */
export async function main(argv: readonly string[]): Promise<never> {
  let code: number;
  try {
    await buildProgram().parseAsync([...argv]);
    code = outcome.code;
  } catch (err) {
    const plan = exitPlanFor(err);
    if (plan.message) process.stderr.write(`${plan.message}\n`);
    code = plan.code;
  }
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}
