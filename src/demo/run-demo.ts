/**
 * `wstap demo`: the guide's backend, wstap in front of it, and scripted clients that
 * reproduce the guide's issues 1 to 5, so a newcomer sees every finding in seconds.
 */
import net from 'node:net';
import WebSocket from 'ws';
import type { Logger } from 'pino';
import type { WstapLogger } from '../log/logger.js';
import { ListenError, startProxy, type ProxyOptions, type ProxyServer } from '../proxy/server.js';
import { logStartup } from '../proxy/startup.js';
import { SessionHistory } from '../sinks/history.js';
import { createLogSink } from '../sinks/log-sink.js';
import type { ViewLink } from '../log/entries.js';
import { authBypassEnabled, demoJwt, startDemoBackend } from './backend.js';

export interface DemoOptions {
  keep: boolean;
  port: number;
  backendPort: number;
  /** Where the main proxy listens (--host, WSTAP_HOST); the default loopbacks when absent. */
  hosts?: string[];
}

/** The demo backend, or an error a person can act on when its port is taken. */
async function demoBackend(port: number): Promise<Awaited<ReturnType<typeof startDemoBackend>>> {
  try {
    return await startDemoBackend({ port, env: {} });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    throw new ListenError(`port ${port} for the demo backend is already in use: choose another with --backend-port (0: any free port)`, 'EADDRINUSE');
  }
}

interface ClientResult {
  opened: boolean;
  status?: number;
  closeCode?: number;
  closeReason?: string;
  error?: string;
  reply?: string;
}

/** Opens a WebSocket, sends one message if it opens, and reports what the client saw. */
function tryClient(url: string, headers: Record<string, string | string[]>): Promise<ClientResult> {
  return new Promise((resolve) => {
    const result: ClientResult = { opened: false };
    const ws = new WebSocket(url, { headers, handshakeTimeout: 5000 });
    const timer = setTimeout(() => ws.terminate(), 3000);
    ws.on('unexpected-response', (_req, res) => {
      result.status = res.statusCode;
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      result.opened = true;
      ws.send(JSON.stringify({ type: 'ping', id: 1 }));
    });
    ws.on('message', (data) => {
      result.reply = data.toString();
      ws.close(1000, 'done');
    });
    ws.on('error', (err) => {
      result.error ??= err.message;
    });
    ws.on('close', (code, reason) => {
      clearTimeout(timer);
      if (result.opened) {
        result.closeCode = code;
        result.closeReason = reason.toString();
      }
      resolve(result);
    });
  });
}

function describe(r: ClientResult): string {
  if (r.opened) return `opened; ${r.reply ? `echo ${r.reply.slice(0, 60)}; ` : ''}closed ${r.closeCode}${r.closeReason ? ` "${r.closeReason}"` : ''}`;
  if (r.status) return `refused with HTTP ${r.status}`;
  return `failed: ${r.error ?? 'no answer'}`;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * A proxy of the demo, logging to the demo's log. Every demo proxy feeds the one history: the
 * main proxy's live view shows the sessions of all of them (their ids say which).
 */
interface DemoShared {
  history: SessionHistory;
  /** With --keep, each session's last line links to its page in the main proxy's live view. */
  view: ViewLink;
}

function demoProxy(logger: Logger, shared: DemoShared, opts: Omit<ProxyOptions, 'logger' | 'sinks'>): Promise<ProxyServer> {
  return startProxy({ ...opts, logger, sinks: [createLogSink(logger, { view: shared.view }), shared.history] });
}

async function startMainProxy(
  logger: Logger,
  shared: DemoShared,
  opts: { port: number; target: string; allowOrigins: string[]; hosts?: string[] | undefined },
): Promise<ProxyServer> {
  const { port, target, allowOrigins, hosts } = opts;
  const { history } = shared;
  try {
    return await demoProxy(logger, shared, { target, port, allowOrigins, history, ...(hosts ? { hosts } : {}) });
  } catch (err) {
    if (!(err instanceof ListenError) || port === 0) throw err;
    logger.warn({ event: 'demo' }, `${err.message}; the demo uses a free port instead`);
    return demoProxy(logger, shared, { target, port: 0, allowOrigins, history, ...(hosts ? { hosts } : {}) });
  }
}

/** Runs the scenarios; resolves with the exit status (with keep: once stopped by a signal). */
export async function runDemo(log: WstapLogger, opts: DemoOptions): Promise<number> {
  const { logger } = log;
  const say = (msg: string): void => logger.info({ event: 'demo' }, msg);
  const backend = await demoBackend(opts.backendPort);
  say(`demo backend on ${backend.url}: /ws allows Origins ${backend.allowedOrigins.join(', ')}, closes 1008 without credentials (auth bypass off)`);
  let viewBase: string | undefined;
  const shared: DemoShared = {
    history: new SessionHistory(),
    view: (id) => (viewBase ? `${viewBase}sessions/${encodeURIComponent(id)}` : undefined),
  };
  const proxy = await startMainProxy(logger, shared, {
    port: opts.port,
    target: backend.url,
    allowOrigins: backend.allowedOrigins,
    hosts: opts.hosts,
  });
  logStartup(logger, proxy, { allowOrigins: backend.allowedOrigins });
  // The view outlives the run only with --keep: only then do the lines link to it.
  if (opts.keep) viewBase = `http://localhost:${proxy.port}/__wstap/`;
  const normalizing = await demoProxy(logger, shared, {
    target: backend.url,
    port: 0,
    hosts: ['127.0.0.1'],
    allowOrigins: backend.allowedOrigins,
    normalizeOrigin: true,
    sessionIdPrefix: 'norm',
  });
  const downPort = await freePort();
  const down = await demoProxy(logger, shared, { target: `http://127.0.0.1:${downPort}`, port: 0, hosts: ['127.0.0.1'], sessionIdPrefix: 'down' });
  const dns = await demoProxy(logger, shared, { target: 'http://backend.invalid:8000', port: 0, hosts: ['127.0.0.1'], sessionIdPrefix: 'dns' });
  const ws = (p: ProxyServer, path = '/ws'): string => `ws://127.0.0.1:${p.port}${path}`;
  const good = 'http://localhost:3000';

  const scenarios: { title: string; run: () => Promise<ClientResult> }[] = [
    {
      title: 'A healthy session: allowed Origin, a valid token',
      run: () => tryClient(ws(proxy), { Origin: good, Authorization: `Bearer ${demoJwt(3600)}` }),
    },
    {
      title: 'Guide issue 2: no credentials, so the backend accepts and then closes with 1008',
      run: () => tryClient(ws(proxy), { Origin: good }),
    },
    {
      title: 'Guide issue 2, variant: an expired JWT in the query string',
      run: () => tryClient(ws(proxy, `/ws?token=${demoJwt(-7200)}`), { Origin: good }),
    },
    {
      title: 'Guide issue 3: an Origin the backend does not allow (the compose service name)',
      run: () => tryClient(ws(proxy), { Origin: 'http://frontend:3000', Authorization: `Bearer ${demoJwt(3600)}` }),
    },
    {
      title: 'Guide issue 4: two Origin lines, as added by a proxy in between',
      run: () => tryClient(ws(proxy), { Origin: [good, good], Authorization: `Bearer ${demoJwt(3600)}` }),
    },
    {
      title: 'Guide issue 4, fixed: the same request through wstap --normalize-origin',
      run: () => tryClient(ws(normalizing), { Origin: [good, good], Authorization: `Bearer ${demoJwt(3600)}` }),
    },
    {
      title: 'Guide issue 1: the backend is down (nothing listens on its port)',
      run: () => tryClient(ws(down), { Origin: good, Authorization: `Bearer ${demoJwt(3600)}` }),
    },
    {
      title: 'Guide issue 5: the target is a service name that does not resolve here',
      run: () => tryClient(ws(dns), { Origin: good, Authorization: `Bearer ${demoJwt(3600)}` }),
    },
  ];

  for (const [i, s] of scenarios.entries()) {
    say(`── ${i + 1}/${scenarios.length} ${s.title}`);
    const result = await s.run();
    say(`   the client saw: ${describe(result)}`);
    // Let the session-end line come out before the next scenario.
    await new Promise((r) => setTimeout(r, 50));
  }
  await Promise.all([normalizing.close(0), down.close(0), dns.close(0)]);

  if (opts.keep) {
    say(
      `demo done; still running (Ctrl-C to stop): wstap on ws://localhost:${proxy.port}/ws → backend ${backend.url}; ` +
        `the sessions in a browser: http://localhost:${proxy.port}/__wstap/. ` +
        `Try: npx wscat -c ws://localhost:${proxy.port}/ws -o http://localhost:3000 -H "Authorization: Bearer dev"`,
    );
    return new Promise<number>((resolve) => {
      const stop = (): void => {
        void proxy.close(1000).then(async () => {
          await backend.close();
          log.flush();
          resolve(0);
        });
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
  }
  await proxy.close(500);
  await backend.close();
  say('demo done: run "wstap --target http://localhost:8000" in front of your own backend (wstap --help for options)');
  log.flush();
  return 0;
}

/**
 * `wstap demo --backend-only`: the demo backend alone, configured by its environment (CORS_ORIGINS,
 * the auth bypass variables), until SIGINT or SIGTERM: the compose example's backend.
 */
export async function runDemoBackend(log: WstapLogger, opts: { port: number; host: string }): Promise<number> {
  const { logger } = log;
  let backend: Awaited<ReturnType<typeof startDemoBackend>>;
  try {
    backend = await startDemoBackend({ port: opts.port, host: opts.host });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    throw new ListenError(
      `port ${opts.port} for the demo backend is already in use: choose another with --backend-port (0: any free port)`,
      'EADDRINUSE',
    );
  }
  const bypass = authBypassEnabled(process.env) ? 'auth bypass on' : 'closes 1008 without credentials (auth bypass off)';
  const where = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  logger.info(
    { event: 'demo-backend', host: opts.host, port: backend.port, allowedOrigins: backend.allowedOrigins },
    `demo backend listening on http://${where}:${backend.port}: WebSocket on /ws, GET /health; Origins allowed: ${backend.allowedOrigins.join(', ')} (CORS_ORIGINS); ${bypass}`,
  );
  return new Promise<number>((resolve) => {
    const stop = (): void => {
      void backend.close().then(() => {
        logger.info({ event: 'demo-backend-stopped' }, 'demo backend stopped');
        log.flush();
        resolve(0);
      });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
