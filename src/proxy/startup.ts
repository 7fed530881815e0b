/** The lines the proxy prints when it starts: where it listens, where to point the frontend, what to watch for. */
import type { Logger } from 'pino';
import { redactingLogger } from '../log/redacting-logger.js';
import { detectContainer, isLocalhost, localhostInContainerFinding, type ContainerInfo } from '../inspect/environment/container.js';
import { probeConnect } from '../upgrade/upstream.js';
import type { Finding } from '../session/finding.js';
import type { Target } from '../wire/target.js';
import type { ProxyOptions, ProxyServer } from './server.js';
import { hostPort } from '../wire/host-port.js';

function wsUrl(address: string, port: number): string {
  return `ws://${hostPort(address, port)}`;
}

export function logStartup(given: Logger, proxy: ProxyServer, opts: Pick<ProxyOptions, 'allowOrigins' | 'normalizeOrigin'>): void {
  // These lines quote what the user typed (a --target with ?token=...): the redaction step too.
  const logger = redactingLogger(given);
  const listen = proxy.addresses.map((a) => wsUrl(a.address, a.port)).join(' and ');
  // The one line a --quiet run prints too: where it listens.
  logger[logger.isLevelEnabled('info') ? 'info' : 'warn'](
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

/**
 * Logs the localhost-in-container warning once at startup when it applies (event "environment").
 * Returns the finding, or undefined when wstap is not in a container or the target is not local.
 */
export function warnIfLocalhostInContainer(
  logger: Logger,
  target: Target,
  info: ContainerInfo = detectContainer(),
  answers = false,
): Finding | undefined {
  const f = localhostInContainerFinding(target, { command: 'proxy', answers }, info);
  if (f) logger.warn({ event: 'environment', container: info.evidence, finding: f }, `the target ${target.url} is localhost, inside a container`);
  return f;
}

/** The warning, unless the target answers on localhost from here (the backend runs in this container). */
export async function checkLocalhostInContainer(
  logger: Logger,
  target: Target,
  info: ContainerInfo = detectContainer(),
): Promise<Finding | undefined> {
  if (!info.inContainer || !isLocalhost(target.host)) return undefined;
  return warnIfLocalhostInContainer(logger, target, info, (await probeConnect(target, 500)).reachable);
}
