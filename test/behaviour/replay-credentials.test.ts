/**
 * Replay with credentials (issue 11, item 10), against a real FastAPI/uvicorn backend whose
 * /ws-secret route checks every place a client carries a credential: ?token=, Authorization,
 * a cookie, a subprotocol pair and a first JSON message. A session recorded through wstap
 * holds "[redacted]" in each place; `wstap replay --secret NAME=VALUE` gives them back, a
 * replay that still sends one says where, --header only replaces recorded headers
 * (--add-header adds), and an unknown --session or an unreachable target exits 2.
 * `wstap serve` and the vitest fixture take --secret / secrets too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Recording } from '../../src/recording/format.js';
import type { ReplayResult } from '../../src/replay/replay-client.js';
import { wsFixture } from '../../src/replay/fixture.js';
import { runDeferred } from '../support/cleanup.js';
import { refusedPort } from '../support/helpers.js';
import { FASTAPI_ISSUED, FASTAPI_SECRET, startFastApi, type FastApiBackend } from '../support/peers/fastapi.js';
import { ensureBuilt } from '../support/process.js';
import { closeClient, openClient, recordThroughProxy, runBin, startBin } from '../support/recording.js';
import { replayRecording } from '../../src/replay/replay-client.js';
import { serve, wsBackend } from '../support/replay.js';

const S = FASTAPI_SECRET;
const AUTH_MESSAGE = JSON.stringify({ type: 'auth', token: S });
/** Every credential /ws-secret checks, given back by name. */
const ALL_SECRETS = ['--secret', `token=${S}`, '--secret', `Authorization=Bearer ${S}`, '--secret', `session=${S}`, '--secret', `access_token=${S}`];

let api: FastApiBackend;
let dir: string;
let file: string;
let rec: Recording;

beforeAll(async () => {
  await ensureBuilt();
  api = await startFastApi();
  // One recording for the whole file (tmpFile's folder would go after the first test).
  dir = mkdtempSync(path.join(os.tmpdir(), 'wstap-test-'));
  // A real session through wstap: every credential in its place, the auth message, one echo.
  ({ file, rec } = await recordThroughProxy(
    api.url,
    async (wsUrl) => {
      const c = await openClient(wsUrl(`/ws-secret?token=${S}&room=lobby`), ['access_token', S], {
        headers: { Authorization: `Bearer ${S}`, Cookie: `theme=dark; session=${S}` },
      });
      expect(JSON.parse((await c.ask(AUTH_MESSAGE)).text)).toEqual({ type: 'authed', session_token: FASTAPI_ISSUED });
      expect((await c.ask('{"op":"hello"}')).text).toBe('{"op":"hello"}');
      await closeClient(c);
    },
    { file: path.join(dir, 'session.jsonl') },
  ));
}, 120_000);
afterAll(async () => {
  await api?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});
afterEach(runDeferred);

const target = (): string => api.ws('/');

describe('the recording a replay starts from', () => {
  it('holds no secret: "[redacted]" in the query, Authorization, the cookie, the subprotocol and both JSON fields', () => {
    const s = rec.sessions[0]!;
    expect(JSON.stringify(rec)).not.toContain(S);
    expect(JSON.stringify(rec)).not.toContain(FASTAPI_ISSUED);
    expect(s.open.request.path).toBe('/ws-secret?token=[redacted]&room=lobby');
    const header = (n: string): string | undefined => s.open.request.headers.find((h) => h.name.toLowerCase() === n)?.value;
    expect(header('authorization')).toBe('Bearer [redacted]');
    expect(header('cookie')).toBe('theme=[redacted]; session=[redacted]');
    expect(header('sec-websocket-protocol')).toBe('access_token, [redacted]');
  });
});

describe('wstap replay --secret (the real bin against FastAPI)', () => {
  it('without --secret: the backend refuses (1008 "bad query token") and the output says which secrets were sent as "[redacted]"', async () => {
    const r = await runBin(['replay', file, '--target', target(), '--timeout', '1500'], 10_000);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL ws-1: .*closed 1008 "bad query token"/);
    const said = /sent "\[redacted\]" where the recording had a secret: (.*): give the values with --secret NAME=VALUE/.exec(r.stdout);
    // The auth message is named too when it went out before the backend's close arrived.
    expect(said?.[1]).toMatch(
      /^query parameter token, header Authorization, cookie theme, cookie session, subprotocol entry 2(, client message #1: field token)?$/,
    );
  });

  it('with every secret by name: the replay matches, the auth message filled and the issued token compared as "any value"', async () => {
    const r = await runBin(['replay', file, '--target', target(), '--secret', 'theme=dark', ...ALL_SECRETS], 10_000);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^ok {3}ws-1: sent 2, received 2, closed 1000/m);
    expect(r.stdout).not.toMatch(/\[redacted\]/);
    expect(r.code).toBe(0);
  });

  it('names are case-insensitive; one missing secret is named, the backend names what it lacked', async () => {
    const r = await runBin(
      [
        'replay',
        file,
        '--target',
        target(),
        '--timeout',
        '1500',
        '--secret',
        `TOKEN=${S}`,
        '--secret',
        `authorization=Bearer ${S}`,
        '--secret',
        `Session=${S}`,
      ],
      10_000,
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/closed 1008 "bad subprotocol"/);
    expect(r.stdout).toMatch(/had a secret: cookie theme, subprotocol entry 2: give/);
  });

  it('--json: redactedSent lists each place still redacted (the subprotocol entry had its secret)', async () => {
    const r = await runBin(['replay', file, '--target', target(), '--timeout', '1500', '--json', '--secret', 'access_token=x'], 10_000);
    const result = JSON.parse(r.stdout) as ReplayResult;
    expect(result.sessions[0]!.redactedSent!.slice(0, 4)).toEqual([
      'query parameter token',
      'header Authorization',
      'cookie theme',
      'cookie session',
    ]);
    expect(r.code).toBe(1);
  });

  it('--header only replaces a recorded header: one the session did not have is not sent and is named; --add-header adds it', async () => {
    const r = await runBin(['replay', file, '--target', target(), '--timeout', '1500', ...ALL_SECRETS, '--header', 'X-Tenant: acme'], 10_000);
    expect(r.stdout).toMatch(/--header X-Tenant not sent: the recorded session had no X-Tenant header \(--add-header "X-Tenant: \.\.\." adds one\)/);
    expect(r.code).toBe(0);
    const added = await runBin(['replay', file, '--target', target(), '--json', ...ALL_SECRETS, '--add-header', 'X-Tenant: acme'], 10_000);
    expect((JSON.parse(added.stdout) as ReplayResult).sessions[0]!.unusedHeaders).toBeUndefined();
    expect(added.code).toBe(0);
  });

  it('--header replaces a recorded (redacted) header whole: a wrong value is refused by the backend', async () => {
    const r = await runBin(
      ['replay', file, '--target', target(), '--timeout', '1500', ...ALL_SECRETS, '--header', 'Authorization: Bearer wrong'],
      10_000,
    );
    expect(r.stdout).toMatch(/closed 1008 "bad Authorization"/);
    expect(r.code).toBe(1);
  });

  it('an unknown --session exits 2 and lists the sessions there are', async () => {
    const r = await runBin(['replay', file, '--target', target(), '--session', 'ws-9'], 10_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no session ws-9 in .* \(it has ws-1\)/);
    expect(r.stdout).toBe('');
  });

  it('an unreachable target exits 2 (a setup error, not a difference), naming the target and the error', async () => {
    const port = await refusedPort();
    const r = await runBin(['replay', file, '--target', `ws://127.0.0.1:${port}`], 10_000);
    expect(r.stdout).toMatch(new RegExp(`cannot reach ws://127\\.0\\.0\\.1:${port}/: .*ECONNREFUSED.*: nothing compared`));
    expect(r.code).toBe(2);
    const unresolved = await runBin(['replay', file, '--target', 'ws://backend.invalid:8000', '--json'], 15_000);
    expect((JSON.parse(unresolved.stdout) as ReplayResult).unreachable).toMatch(/ENOTFOUND|EAI_AGAIN/);
    expect(unresolved.code).toBe(2);
  });
});

describe('a client message that carried a secret (ws backend that records what it got)', () => {
  it('its redacted field is filled from --secret; without one the backend gets "[redacted]" and the result names the message', async () => {
    const got: string[] = [];
    const backend = await wsBackend((ws) =>
      ws.on('message', (d: Buffer) => {
        got.push(d.toString());
        ws.send('{"ok":true}');
      }),
    );
    const { rec: r } = await recordThroughProxy(`http://127.0.0.1:${backend.port}`, async (wsUrl) => {
      const c = await openClient(wsUrl('/ws'));
      await c.ask(AUTH_MESSAGE);
      await closeClient(c);
    });
    got.length = 0;
    const filled = await replayRecording(r, { target: backend.wsUrl, secrets: { token: S } });
    expect(got).toEqual([AUTH_MESSAGE]);
    expect(filled.sessions[0]!.redactedSent).toBeUndefined();
    expect(filled.ok).toBe(true);

    got.length = 0;
    const bare = await replayRecording(r, { target: backend.wsUrl });
    expect(got).toEqual(['{"type":"auth","token":"[redacted]"}']);
    expect(bare.sessions[0]!.redactedSent).toEqual(['client message #1: field token']);
  });
});

describe('wstap serve and the fixture with secrets', () => {
  /** A real client against the recording played by serve: the handshake as the app makes it, the auth message, one echo. */
  async function clientAgainst(url: string, token: string): Promise<{ authed: unknown; close: { code: number; reason: string } }> {
    const c = await openClient(`${url}/ws-secret?token=${token}&room=lobby`, ['access_token', token]);
    const authed = JSON.parse((await c.ask(JSON.stringify({ type: 'auth', token }))).text) as unknown;
    await c.ask('{"op":"hello"}').catch(() => undefined);
    return { authed, close: await closeClient(c) };
  }

  it('without a secret, a redacted field matches any value, and the issued token is played as "[redacted]" (said once per message)', async () => {
    const { server, events } = await serve(rec);
    const got = await clientAgainst(server.url, 'some-other-token');
    expect(server.unexpected).toEqual([]);
    expect(got.authed).toEqual({ type: 'authed', session_token: '[redacted]' });
    expect(events.filter((e) => e.type === 'redacted')).toEqual([{ type: 'redacted', session: 'ws-1', index: 0, still: ['field session_token'] }]);
  });

  it('with secrets, the issued token is played and the client must send the recorded token: a wrong one is unexpected (1008)', async () => {
    const { server } = await serve(rec, { secrets: { session_token: FASTAPI_ISSUED, token: S } });
    const good = await clientAgainst(server.url, S);
    expect(good.authed).toEqual({ type: 'authed', session_token: FASTAPI_ISSUED });
    expect(server.unexpected).toEqual([]);

    const c = await openClient(`${server.url}/ws-secret?token=x`, ['access_token', 'x']);
    c.ws.send(JSON.stringify({ type: 'auth', token: 'wrong' }));
    expect(await c.closed).toEqual({ code: 1008, reason: 'wstap serve: unexpected message' });
    expect(server.unexpected[0]!.diffs).toEqual([{ path: '$.token', expected: S, actual: 'wrong' }]);
  });

  it('the bin: serve --secret plays the issued token', async () => {
    const bin = startBin(['serve', file, '--port', '0', '--secret', `session_token=${FASTAPI_ISSUED}`]);
    const url = (await bin.waitFor(/on (ws:\/\/\S+)/, 'the serve URL'))[1]!;
    const got = await clientAgainst(url, S);
    expect(got.authed).toEqual({ type: 'authed', session_token: FASTAPI_ISSUED });
    expect(bin.stdout()).not.toMatch(/played with "\[redacted\]"/);
  });

  it('the vitest fixture takes secrets (replay mode)', async () => {
    const fx = await wsFixture({ recording: file, mode: 'replay', secrets: { session_token: FASTAPI_ISSUED } });
    try {
      expect((await clientAgainst(fx.url, S)).authed).toEqual({ type: 'authed', session_token: FASTAPI_ISSUED });
      expect(fx.unexpected).toEqual([]);
    } finally {
      await fx.close();
    }
  });
});
