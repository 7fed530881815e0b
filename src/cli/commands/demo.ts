/** `wstap demo`: the built-in backend, wstap in front of it, and clients that reproduce the guide's issues. */
import { Command, Option } from 'commander';
import { createLogger } from '../../log/logger.js';
import { PROXY_DEFAULTS } from '../../proxy/defaults.js';
import { action } from '../errors.js';
import { defaultLogFormat, logLevelOf, logOptions, parseHosts, parsePort, type LogCliOptions } from '../options.js';

export function demoCommand(): Command {
  const cmd = new Command('demo')
    .description("a built-in backend like the troubleshooting guide's, wstap in front of it, and clients that reproduce its issues")
    .option('--keep', 'keep the backend and wstap running afterwards (for a browser or wscat)')
    .option(
      '--backend-only',
      'run only the demo backend (on --backend-port, the first --host), configured by CORS_ORIGINS and the auth bypass variables, until stopped',
    )
    .addOption(new Option('-p, --port <n>', 'port for wstap (0: any free port)').default(PROXY_DEFAULTS.port).env('WSTAP_PORT').argParser(parsePort))
    .addOption(new Option('--backend-port <n>', 'port for the demo backend (0: any free port)').default(0).argParser(parsePort))
    .addOption(
      new Option('--host <addr>', 'address(es) wstap listens on, comma-separated (default: 127.0.0.1 and ::1)')
        .env('WSTAP_HOST')
        .argParser(parseHosts),
    );
  for (const o of logOptions()) cmd.addOption(o);
  cmd.action(
    action(async (opts: LogCliOptions & { keep?: boolean; backendOnly?: boolean; port: number; backendPort: number; host?: string[] }) => {
      const log = createLogger({ format: opts.logFormat ?? defaultLogFormat(), level: logLevelOf(opts) });
      // Loaded when it runs: `wstap` as a proxy loads none of the demo.
      const { runDemo, runDemoBackend } = await import('../../demo/run-demo.js');
      if (opts.backendOnly) return runDemoBackend(log, { port: opts.backendPort, host: opts.host?.[0] ?? '127.0.0.1' });
      return runDemo(log, { keep: opts.keep ?? false, port: opts.port, backendPort: opts.backendPort, ...(opts.host ? { hosts: opts.host } : {}) });
    }),
  );
  return cmd;
}
