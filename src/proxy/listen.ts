/** Listening on every configured address with one port, and the errors a person can act on. */
import net from 'node:net';
import type { Logger } from 'pino';

export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

function listenOne(server: net.Server, port: number, host: string): Promise<net.AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.removeListener('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.removeListener('error', onError);
      resolve(server.address() as net.AddressInfo);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port, host, exclusive: true });
  });
}

function listenError(e: NodeJS.ErrnoException, host: string, port: number): ListenError {
  if (e.code === 'EADDRINUSE') {
    return new ListenError(`port ${port} on ${host} is already in use (another wstap, or the backend itself?): choose another with --port`, e.code);
  }
  if (e.code === 'EACCES') return new ListenError(`no permission to listen on port ${port} on ${host}: use a port above 1023`, e.code);
  if (e.code === 'EADDRNOTAVAIL') return new ListenError(`cannot listen on ${host}: no such address on this machine`, e.code);
  return new ListenError(`cannot listen on ${host}:${port}: ${e.message}`, e.code ?? 'ELISTEN');
}

export interface Listening {
  servers: net.Server[];
  /** Where the proxy listens, in the order of the hosts. */
  addresses: { address: string; port: number }[];
  port: number;
}

/**
 * Listens on each host with one port (0: the first host picks a free one, the others take
 * it). `optionalIpv6`: ::1 may be missing (an IPv4-only machine) without failing.
 */
export async function listenAll(
  hosts: readonly string[],
  port: number,
  optionalIpv6: boolean,
  onConnection: (socket: net.Socket) => void,
  log: Logger,
): Promise<Listening> {
  const servers: net.Server[] = [];
  const addresses: { address: string; port: number }[] = [];
  for (const host of hosts) {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, onConnection);
    try {
      const addr = await listenOne(server, port, host);
      port = addr.port;
      servers.push(server);
      addresses.push({ address: addr.address, port: addr.port });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (optionalIpv6 && host === '::1' && (e.code === 'EADDRNOTAVAIL' || e.code === 'EAFNOSUPPORT')) {
        log.debug({ event: 'listen-skipped', host, error: e.code }, `IPv6 loopback unavailable (${e.code}): listening on IPv4 only`);
        continue;
      }
      for (const s of servers) s.close();
      throw listenError(e, host, port);
    }
  }
  if (servers.length === 0) throw new ListenError('no address to listen on', 'ELISTEN');
  for (const s of servers) s.on('error', (err) => log.error({ event: 'listener-error', err: String(err) }, `listener error: ${String(err)}`));
  return { servers, addresses, port };
}
