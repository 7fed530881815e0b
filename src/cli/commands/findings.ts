/** `wstap findings`: the table of finding codes, from the catalogue. */
import { Command } from 'commander';
import { FINDING_CATALOG } from '../../session/finding.js';
import { action } from '../errors.js';

export function findingsTable(): string {
  const rows = Object.entries(FINDING_CATALOG).map(([code, f]) => `${code.padEnd(24)}${f.severity.padEnd(7)}${f.phase.padEnd(12)}${f.when}`);
  return `${'code'.padEnd(24)}${'level'.padEnd(7)}${'phase'.padEnd(12)}when\n${rows.join('\n')}\n`;
}

export function findingsCommand(): Command {
  return new Command('findings')
    .description('print the table of finding codes')
    .option('--json', 'as JSON')
    .action(
      action((opts: { json?: boolean }) => {
        process.stdout.write(opts.json ? `${JSON.stringify(FINDING_CATALOG, null, 2)}\n` : findingsTable());
        return 0;
      }),
    );
}
