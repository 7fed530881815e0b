/**
 * WebSocket fixtures for tests, in the style of Polly.js: one call gives a URL to
 * point the code under test at.
 *   replay (default): a mock backend serves the recording.
 *   record: wstap proxies to the real backend and writes the recording.
 *   passthrough: wstap proxies to the real backend, nothing is written.
 * WSTAP_MODE, when set, overrides the mode in the options (so `WSTAP_MODE=record npx vitest`
 * records again without a code change); without either, replay.
 */
import { existsSync } from 'node:fs';
import pino from 'pino';
import { startProxy, type ProxyServer } from '../proxy/server.js';
import type { SessionSink } from '../sinks/bus.js';
import { createCompactSink } from '../sinks/compact-sink.js';
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
  /** The values the recording redacted, by name (replay): e.g. { token: process.env.TEST_TOKEN }. */
  secrets?: Record<string, string>;
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

const MODES: readonly FixtureMode[] = ['replay', 'record', 'passthrough'];

/** The mode: WSTAP_MODE when set, else the options', else replay. */
export function fixtureMode(opts: Pick<FixtureOptions, 'mode'>, env: string | undefined = process.env['WSTAP_MODE']): FixtureMode {
  if (env !== undefined && env !== '') {
    if (!(MODES as readonly string[]).includes(env)) throw new Error(`wsFixture: WSTAP_MODE=${env} is not a mode: use replay, record or passthrough`);
    return env as FixtureMode;
  }
  return opts.mode ?? 'replay';
}

/** In record and passthrough modes, sessions with problems are written to standard error, where the test runner shows them. */
function problemsToStderr(): SessionSink {
  return createCompactSink((level, text) => {
    if (level !== 'info') process.stderr.write(`wstap ${level}: ${text}\n`);
  });
}

export async function wsFixture(opts: FixtureOptions): Promise<WsFixture> {
  const mode = fixtureMode(opts);
  if (mode === 'replay' && !existsSync(opts.recording)) {
    throw new Error(`wsFixture: no recording at ${opts.recording}: record it first: WSTAP_MODE=record (with target set to the real backend)`);
  }
  if (mode === 'replay') {
    const server: ReplayServer = await createReplayServer(opts.recording, {
      ...(opts.ignore ? { ignore: opts.ignore } : {}),
      ...(opts.secrets ? { secrets: opts.secrets } : {}),
      ...(opts.onUnexpected ? { onUnexpected: opts.onUnexpected } : {}),
    });
    return { mode, url: server.url, unexpected: server.unexpected, close: () => server.close() };
  }
  if (!opts.target) throw new Error(`wsFixture: mode ${mode} needs a target (the real backend)`);
  // Sessions with problems go to standard error; record mode adds the recorder (a fresh file: a fixture is one recording).
  const sinks: SessionSink[] = [problemsToStderr()];
  if (mode === 'record')
    sinks.push(new Recorder({ file: opts.recording, target: opts.target, version: WSTAP_VERSION, logger: pino({ level: 'silent' }), append: false }));
  const proxy: ProxyServer = await startProxy({ target: opts.target, port: 0, hosts: ['127.0.0.1'], sinks });
  return { mode, url: `ws://127.0.0.1:${proxy.port}`, unexpected: [], close: () => proxy.close(1000) };
}
