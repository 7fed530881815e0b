/**
 * WebSocket fixtures for tests, in the style of Polly.js: one call gives a URL to
 * point the code under test at.
 *   replay (default): a mock backend serves the recording.
 *   record: wstap proxies to the real backend and writes the recording.
 *   passthrough: wstap proxies to the real backend, nothing is written.
 * The mode comes from the options, else from WSTAP_MODE.
 */
import pino from 'pino';
import { startProxy, type ProxyServer } from '../proxy/server.js';
import { Recorder } from '../sinks/recorder.js';
import { WSTAP_VERSION } from '../version.js';
import { createReplayServer, type ReplayServer, type UnexpectedMessage } from './replay-server.js';

export type FixtureMode = 'replay' | 'record' | 'passthrough';

export interface FixtureOptions {
  /** The recording file (.jsonl, or .har for replay). */
  recording: string;
  mode?: FixtureMode;
  /** The real backend (record and passthrough), e.g. http://localhost:8000. */
  target?: string;
  /** JSON paths ignored when matching client messages (replay). */
  ignore?: string[];
  onUnexpected?: 'close' | 'ignore';
}

export interface WsFixture {
  mode: FixtureMode;
  /** ws://127.0.0.1:PORT: append the path your client uses. */
  url: string;
  /** Unexpected client messages (replay mode). */
  unexpected: UnexpectedMessage[];
  close(): Promise<void>;
}

export async function wsFixture(opts: FixtureOptions): Promise<WsFixture> {
  const env = process.env['WSTAP_MODE'];
  const mode: FixtureMode = opts.mode ?? (env === 'record' || env === 'passthrough' ? env : 'replay');
  if (mode === 'replay') {
    const server: ReplayServer = await createReplayServer(opts.recording, {
      ...(opts.ignore ? { ignore: opts.ignore } : {}),
      ...(opts.onUnexpected ? { onUnexpected: opts.onUnexpected } : {}),
    });
    return { mode, url: server.url, unexpected: server.unexpected, close: () => server.close() };
  }
  if (!opts.target) throw new Error(`wsFixture: mode ${mode} needs a target (the real backend)`);
  // Record mode composes the recorder as the proxy's one sink; passthrough has none.
  const sinks =
    mode === 'record' ? [new Recorder({ file: opts.recording, target: opts.target, version: WSTAP_VERSION, logger: pino({ level: 'silent' }) })] : [];
  const proxy: ProxyServer = await startProxy({ target: opts.target, port: 0, hosts: ['127.0.0.1'], sinks });
  return { mode, url: `ws://127.0.0.1:${proxy.port}`, unexpected: [], close: () => proxy.close(1000) };
}
