/**
 * `wstap proxy`: the proxy as a process, with its startup lines and a graceful
 * shutdown on SIGINT and SIGTERM (stop accepting, bounded grace, flush, exit 0).
 */
import type { Logger } from 'pino';
import { startProxy, type ProxyOptions, type ProxyServer } from '../../proxy/server.js';
import type { WstapLogger } from '../../log/logger.js';
import { warnIfLocalhostInContainer } from '../../inspect/environment/container.js';

export interface RunProxyOptions extends Omit<ProxyOptions, 'logger'> {
  shutdownGraceMs: number;
}

function wsUrl(address: string, port: number): string {
  return `ws://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

export function logStartup(logger: Logger, proxy: ProxyServer, opts: Pick<ProxyOptions, 'allowOrigins' | 'normalizeOrigin'>): void {
  const listen = proxy.addresses.map((a) => wsUrl(a.address, a.port)).join(' and ');
  logger.info(
    {
      event: 'listening',
      addresses: proxy.addresses,
      target: proxy.target.url,
      allowOrigins: opts.allowOrigins ?? [],
      normalizeOrigin: opts.normalizeOrigin ?? false,
    },
    `wstap listening on ${listen} → ${proxy.target.url}`,
  );
  const local = proxy.addresses.some((a) => a.address === '127.0.0.1' || a.address === '::1' || a.address === '0.0.0.0' || a.address === '::');
  if (local) {
    logger.info(
      { event: 'hint' },
      `point the frontend at ws://localhost:${proxy.port}/<path> (e.g. NEXT_PUBLIC_WS_URL=ws://localhost:${proxy.port}/ws); HTTP requests are forwarded too`,
    );
  }
  if (proxy.target.ignoredPath) {
    logger.warn(
      { event: 'target-path-ignored', path: proxy.target.ignoredPath },
      `--target has a path (${proxy.target.ignoredPath}), which wstap ignores: requests keep the path the client sent`,
    );
  }
}

export async function runProxy(log: WstapLogger, opts: RunProxyOptions): Promise<void> {
  const { logger } = log;
  const proxy = await startProxy({ ...opts, logger });
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ event: 'shutdown-forced', signal }, `${signal} again: exiting now`);
      log.flush();
      process.exit(1);
    }
    stopping = true;
    logger.info({ event: 'shutdown', signal }, `${signal}: no new connections; open sessions get up to ${opts.shutdownGraceMs} ms`);
    proxy
      .close(opts.shutdownGraceMs)
      .then(async () => {
        logger.info({ event: 'stopped' }, 'wstap stopped');
        await log.close();
        process.exit(0);
      })
      .catch(async (err: unknown) => {
        logger.error({ event: 'shutdown-failed', err: String(err) }, `shutdown failed: ${String(err)}`);
        await log.close();
        process.exit(1);
      });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Announced only once a signal can stop it cleanly.
  logStartup(logger, proxy, opts);
  warnIfLocalhostInContainer(logger, proxy.target);
}
