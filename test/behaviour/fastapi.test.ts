/**
 * Diagnoses on a real stack: FastAPI 0.92 on uvicorn 0.17 (Debian's packages) behind wstap,
 * with Chromium and wstap check as clients. A bare 403 is not always the Origin: wstap lists the
 * causes that fit, and check proves the one it is by probing. A subprotocol the backend did not
 * select fails the browser's connection: the handshake says so, and check too.
 */
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { runCheck, type CheckResult } from '../../src/check/run-check.js';
import type { Session } from '../../src/session/session.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { openTestProxy, type TestProxy } from '../support/helpers.js';
import { launchChromium, openInPage, servePage } from '../support/peers/chromium.js';
import { startFastApi, type FastApiBackend } from '../support/peers/fastapi.js';

let api: FastApiBackend;
let browser: Browser;
beforeAll(async () => {
  [api, browser] = await Promise.all([startFastApi(), launchChromium()]);
}, 30_000);
afterAll(async () => {
  await Promise.all([api?.close(), browser?.close()]);
});

afterEach(runDeferred);

function proxy(): Promise<TestProxy> {
  return openTestProxy({ target: api.url });
}

/** A ws client's upgrade through the proxy; resolves with the refusal's status (or 101). */
function upgradeStatus(url: string, origin?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, origin ? { origin } : {});
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('open', () => {
      resolve(101);
      ws.close();
    });
    ws.once('error', (err) => reject(err));
  });
}

const rejected = (s: Session) => s.findings.find((f) => f.code === 'upgrade-rejected')!;

const check = (path: string, extra: Partial<Parameters<typeof runCheck>[0]> = {}): Promise<CheckResult> =>
  runCheck({ url: api.ws(path), lingerMs: 200, timeoutMs: 3000, container: { inContainer: false }, ...extra });

describe('a 403 from FastAPI is not always the Origin', () => {
  it('no WebSocket route at the path (ws://host without /ws): the hint lists the path first, never only the Origin', async () => {
    const tp = await proxy();
    expect(await upgradeStatus(tp.wsUrl('/'), 'http://localhost:3000')).toBe(403);
    const s = await tp.nextHandshake();
    expect(s.outcome).toBe('rejected');
    const f = rejected(s);
    expect(f.message).toBe('The backend answered the upgrade with 403 Forbidden and no reason.');
    expect(f.hint).toMatch(
      /^The answer does not say why; the causes that fit, most likely first: \(1\) the path: the backend serves no WebSocket at \//,
    );
    expect(f.hint).toMatch(/\(2\) the Origin/);
    expect(f.hint).not.toMatch(/^The backend refuses the Origin/);
  });

  it('an Origin the backend accepts, refused before accept for another reason: the Origin is a candidate, not the verdict', async () => {
    const tp = await proxy();
    expect(await upgradeStatus(tp.wsUrl('/ws-auth'), 'http://localhost:3000')).toBe(403);
    const f = rejected(await tp.nextHandshake());
    expect(f.hint).toMatch(/causes that fit, most likely first/);
    expect(f.hint).toMatch(/authentication checked before accept/);
  });

  it('wstap check proves the path: the same request on /ws upgrades', async () => {
    const r = await check('/', { origins: ['http://localhost:3000'] });
    const d = r.steps.find((s) => s.name === 'diagnose')!;
    expect(d.verdict).toBe('error');
    expect(d.detail).toMatch(/^proven: the path \(as sent: 403; .*\/ws: 101\)/);
    expect(d.findings[0]).toMatchObject({ code: 'upgrade-rejected', message: expect.stringMatching(/^Proven by probing: the path/) });
    expect(d.findings[0]!.hint).toMatch(/\/ws upgrades with the same Origin and credential/);
    expect(r.exitCode).toBe(1);
  });

  it('wstap check proves the Origin: the same request with http://localhost:3000 upgrades', async () => {
    const r = await check('/ws-origin', { origins: ['http://evil.example'] });
    const d = r.steps.find((s) => s.name === 'diagnose')!;
    expect(d.detail).toMatch(/^proven: the origin \(as sent: 403; Origin http:\/\/localhost:3000: 101/);
    expect(d.findings[0]!.hint).toBe(
      'The backend refuses the Origin "http://evil.example": add it to the backend\'s allowed origins (its CORS / WebSocket origin list).',
    );
  });

  it('wstap check proves authentication before accept: with a token the same path upgrades', async () => {
    const r = await check('/ws-auth', { origins: ['http://localhost:3000'] });
    const d = r.steps.find((s) => s.name === 'diagnose')!;
    expect(d.detail).toMatch(/^proven: authentication \(as sent: 403; with a token .*: 101/);
    expect(d.findings[0]!.message).toMatch(/^Proven by probing: authentication checked before accept/);
  });

  it('a healthy endpoint is not probed', async () => {
    const r = await check('/ws-noproto', { origins: ['http://localhost:3000'] });
    expect(r.steps.map((s) => s.name)).not.toContain('diagnose');
    expect(r.exitCode).toBe(0);
  });
});

describe('a subprotocol the backend did not select', () => {
  it('Chromium offers "chat", FastAPI accepts without one: the page fails at once, the handshake has subprotocol-mismatch', async () => {
    const tp = await proxy();
    const site = await servePage(browser, '<!doctype html><title>subprotocol</title>');
    defer(site.close);
    const seen = await openInPage(site.page, tp.wsUrl('/ws-noproto'), { protocols: ['chat'], send: ['hi'] });
    expect(seen.opened).toBe(false);
    expect(seen.close.code).toBe(1006);
    const s = await tp.nextHandshake();
    expect(s.outcome).toBe('tunnel');
    const f = s.findings.find((x) => x.code === 'subprotocol-mismatch')!;
    expect(f).toMatchObject({
      severity: 'error',
      message: expect.stringMatching(/offered the subprotocol "chat" and the backend's 101 selected none/),
    });
    expect(f.hint).toMatch(/accept\(subprotocol=/);
  });

  it('when the backend selects the offered one, the page opens and nothing is flagged', async () => {
    const tp = await proxy();
    const site = await servePage(browser, '<!doctype html><title>subprotocol</title>');
    defer(site.close);
    const seen = await openInPage(site.page, tp.wsUrl('/ws-proto'), { protocols: ['chat'], send: ['hi'] });
    expect(seen).toMatchObject({ opened: true, protocol: 'chat', received: ['hi'], close: { code: 1000 } });
    const s = await tp.nextHandshake();
    expect(s.findings.map((f) => f.code)).not.toContain('subprotocol-mismatch');
  });

  it('wstap check --subprotocol chat says the same, and fails', async () => {
    const r = await check('/ws-noproto', { subprotocols: ['chat'], origins: ['http://localhost:3000'] });
    const hs = r.steps.find((s) => s.name === 'handshake')!;
    expect(hs.verdict).toBe('error');
    expect(hs.findings.map((f) => f.code)).toContain('subprotocol-mismatch');
    expect(r.exitCode).toBe(1);
    const ok = await check('/ws-proto', { subprotocols: ['chat'], origins: ['http://localhost:3000'] });
    const okHs = ok.steps.find((s) => s.name === 'handshake')!;
    expect(okHs.findings.map((f) => f.code)).toEqual(['auth-missing']);
    expect(ok.exitCode).toBe(0);
  });
});
