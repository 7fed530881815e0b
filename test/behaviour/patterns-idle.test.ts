/**
 * An idle timeout between wstap and the backend (issue 15, part): a real nginx with
 * proxy_read_timeout 1s stands between wstap and a ws backend (wstap → nginx → backend, as
 * when wstap's target is itself a proxy). Sessions that go quiet are cut by nginx without a
 * close frame; wstap names the pattern once two were cut after the same span, with the span
 * measured; sessions that keep talking are not cut and give nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Finding } from '../../src/session/finding.js';
import { PatternTracker } from '../../src/sinks/patterns.js';
import type { PatternView } from '../../src/views/views.js';
import { echo, startWsServer } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { openTestProxy } from '../support/helpers.js';
import { startNginx } from '../support/peers/nginx.js';
import { openClient } from '../support/recording.js';
import { sleep, until } from '../support/wait.js';

afterEach(runDeferred);

describe('idle timeouts', () => {
  it('nginx proxy_read_timeout 1s cuts quiet sessions: idle-timeout with the span measured, once two were cut; a talking session is left alone', async () => {
    const backend = await startWsServer();
    backend.wss.on('connection', echo);
    const nginx = await startNginx(backend.port, '1s');
    const got: PatternView[] = [];
    const receiver = { name: 'test', pattern: (p: PatternView) => got.push(p) };
    const tracker = new PatternTracker([receiver]);
    const tp = await openTestProxy({ target: nginx.url, sinks: [tracker] });

    // A session that talks every 100 ms is never idle for a second (even when a loaded machine fires its timers late).
    const talker = await openClient(tp.wsUrl('/ws'));
    const talking = setInterval(() => talker.ws.send('still here'), 100);
    // Two quiet sessions, half a second apart: cut at two moments by the same timeout (sessions
    // cut at one moment, by a restart, are one event, not a timeout met twice).
    const quiet = [await openClient(tp.wsUrl('/ws'))];
    await quiet[0]!.ask('hello, then nothing');
    // Real time on purpose: the two quiet sessions go idle half a second apart.
    await sleep(500);
    quiet.push(await openClient(tp.wsUrl('/ws')));
    await quiet[1]!.ask('hello, then nothing');
    const closes = await Promise.all(quiet.map((c) => c.closed));
    expect(closes.map((c) => c.code)).toEqual([1006, 1006]);
    const p = await until(() => got.find((x) => x.finding.code === 'idle-timeout'), 'the idle-timeout finding');
    const f: Finding = p.finding;
    expect(f.message).toMatch(
      /^2 sessions ended without a close frame \(or with the server's 1001\) after 1\.\d s without traffic\. No common default matches/,
    );
    expect(f.hint).toMatch(/Send a heartbeat more often than every 1\.\d s/);
    expect(p.sessions.sort()).toEqual(['ws-2', 'ws-3']);
    // A real-time wait for a negative: half a second more, and the talker is still not cut nor the finding repeated.
    await sleep(500);
    clearInterval(talking);
    expect(talker.ws.readyState).toBe(1);
    // Reported once for the two.
    expect(got.filter((x) => x.finding.code === 'idle-timeout')).toHaveLength(1);
    talker.ws.terminate();
  });
});
