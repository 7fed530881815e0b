/**
 * The live view in real Chromium (Debian's package, driven by playwright-core): a real backend,
 * real clients through a real proxy, the page served by wstap itself. A session appears in
 * the list as it happens, without a reload; its page shows the findings, the decoded
 * messages, the request ↔ answer pairs and their latency, the close explained; control
 * frames hide and show; a foreign Host is refused; nothing is loaded from anywhere but wstap.
 */
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionHistory } from '../../src/sinks/history.js';
import { startWsServer } from '../support/backends.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { openTestProxy, type TestProxy } from '../support/helpers.js';
import { CHROMIUM, CHROMIUM_ARGS, chromiumForFile, openInPage, servePage } from '../support/peers/chromium.js';
import { ROOT } from '../support/process.js';
import { closeClient, openClient } from '../support/recording.js';
import { until, withTimeout } from '../support/wait.js';
import { chromium } from 'playwright-core';

const getBrowser = chromiumForFile();

afterEach(runDeferred);

/**
 * A backend that answers {"id":n,"op":...} with {"id":n,"result":...} after a few ms, pings each
 * client once it has asked twice, and closes with 1008 when the path is /secure and no token came.
 */
async function rig(): Promise<{ tp: TestProxy; view: string }> {
  const backend = await startWsServer();
  backend.wss.on('connection', (ws, req) => {
    if (req.url?.startsWith('/secure') && !req.url.includes('token=')) {
      ws.close(1008, 'Authentication required');
      return;
    }
    let asked = 0;
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { id: number; op: string; args?: number[] };
      setTimeout(() => {
        ws.send(JSON.stringify({ id: m.id, result: (m.args ?? []).reduce((a, b) => a + b, 0), detail: { op: m.op, nested: { ok: true } } }));
        if (++asked === 2) ws.ping('hb');
      }, 3);
    });
  });
  const history = new SessionHistory();
  const tp = await openTestProxy({ target: backend.url, history, sinks: [history] });
  return { tp, view: `http://127.0.0.1:${tp.port}/__wstap/` };
}

/** A page in its own context; every request it makes is listed, and any to another origin is aborted. */
async function openView(url: string): Promise<{ page: Page; context: BrowserContext; requests: string[]; foreign: string[]; errors: string[] }> {
  const context = await getBrowser().newContext({ viewport: { width: 1500, height: 900 } });
  defer(() => context.close());
  const own = new URL(url).origin;
  const requests: string[] = [];
  const foreign: string[] = [];
  const errors: string[] = [];
  // The network to the outside is blocked: only wstap's own origin answers.
  await context.route('**/*', (route) => {
    const u = route.request().url();
    requests.push(u);
    if (u.startsWith(own) || u.startsWith('data:')) return route.continue();
    foreign.push(u);
    return route.abort('internetdisconnected');
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(url);
  return { page, context, requests, foreign, errors };
}

const text = async (page: Page, selector: string): Promise<string> => (await page.locator(selector).first().textContent()) ?? '';

describe('the live view in Chromium', () => {
  it('a session made by a real client appears in the list as it happens, with its findings; the page loads nothing from outside', async () => {
    const { tp, view } = await rig();
    const { page, requests, foreign, errors } = await openView(view);
    await page.getByText('No session yet').waitFor();
    await until(() => (tp.proxy.stats().clientSockets > 0 ? true : undefined), 'the page to subscribe');

    // A real browser is the client: a page on another origin opens a WebSocket through wstap, with no credential.
    const app = await servePage(getBrowser(), '<!doctype html><title>app</title>');
    defer(() => app.close());
    const seen = openInPage(app.page, `ws://127.0.0.1:${tp.port}/secure`, { send: [] });
    const row = page.locator('tr[data-session="ws-1"]');
    await row.waitFor();
    expect(await row.textContent()).toContain('/secure');
    expect(await row.locator('.badge[data-code="auth-missing"]').count()).toBe(1);
    expect(await row.textContent()).toContain(app.origin);
    // The backend closes with 1008: the row says so, live, and the findings panel has the code once.
    expect((await seen).close.code).toBe(1008);
    await page.locator('tr[data-session="ws-1"] .badge[data-code="close-policy"]').waitFor();
    expect(await text(page, 'tr[data-session="ws-1"]')).toContain('1008 by server');
    const panel = page.locator('[data-testid="findings-panel"] .finding-group[data-code="close-policy"]');
    await panel.waitFor();
    expect(await panel.textContent()).toContain('1 session');
    expect(await panel.textContent()).toContain('Authentication required');

    // A second session, from a node client: newest first, and the filter by finding narrows the list.
    const c = await openClient(tp.wsUrl('/api?token=abc'), [], { headers: { Origin: 'http://localhost:3000' } });
    await page.locator('tr[data-session="ws-2"]').waitFor();
    expect(await page.locator('tbody tr').first().getAttribute('data-session')).toBe('ws-2');
    await page.getByLabel('filter by finding').selectOption('close-policy');
    await until(async () => ((await page.locator('tbody tr').count()) === 1 ? true : undefined), 'the filter to apply');
    expect(page.url()).toContain('finding=close-policy');
    await closeClient(c);

    expect(foreign).toEqual([]);
    expect(requests.every((u) => u.startsWith(`http://127.0.0.1:${tp.port}/`))).toBe(true);
    expect(errors).toEqual([]);
  });

  it("a session's page: live messages decoded, request and answer paired with their latency, control frames hidden then shown, the close explained", async () => {
    const { tp, view } = await rig();
    const c = await openClient(tp.wsUrl('/rpc'), [], { headers: { Origin: 'http://localhost:3000' } });
    await c.ask(JSON.stringify({ id: 1, op: 'sum', args: [1, 2] }));
    // Opened while the session is live: what came before is fetched, what comes after streams in.
    const { page, errors } = await openView(`${view}sessions/ws-1`);
    await page.locator('[data-testid="timeline"] [data-seq="2"]').waitFor();
    await c.ask(JSON.stringify({ id: 2, op: 'sum', args: [40, 2] }));
    await until(() => (c.received.length >= 2 ? true : undefined), 'the answers');
    await page.locator('[data-testid="timeline"] [data-seq="4"]').waitFor();
    expect(await text(page, '[data-seq="4"]')).toContain('"result":42');
    expect(await text(page, '[data-seq="4"]')).toContain('↩#3');

    // The server's ping and the client's pong are control frames: hidden, counted.
    await until(
      async () => ((await text(page, 'label:has([data-testid="show-control"])')).includes('2 hidden') ? true : undefined),
      'the hidden count',
    );
    expect(await page.locator('[data-testid="timeline"] .kind-ping').count()).toBe(0);
    await page.getByTestId('show-control').check();
    await page.locator('[data-testid="timeline"] .kind-ping').waitFor();
    expect(await page.locator('[data-testid="timeline"] .kind-pong').count()).toBe(1);
    await page.getByTestId('show-control').uncheck();
    await until(async () => ((await page.locator('[data-testid="timeline"] .kind-ping').count()) === 0 ? true : undefined), 'pings hidden again');

    // An answer names its request and the latency; one click goes to the request, which names its answer.
    await page.locator('[data-testid="timeline"] [data-seq="4"]').click();
    const detail = page.getByTestId('message-detail');
    expect(await detail.getByTestId('pair').textContent()).toMatch(/answers #3 after [\d.]+ ms/);
    expect(await detail.getByTestId('json-tree').textContent()).toContain('nested');
    await detail.getByRole('button', { name: '#3' }).click();
    await until(async () => ((await detail.getAttribute('data-seq')) === '3' ? true : undefined), 'the request selected');
    expect(await detail.getByTestId('pair').textContent()).toMatch(/answered by #4 after [\d.]+ ms/);
    expect(page.url()).toContain('m=3');

    // Filter by text, then by regex.
    await page.getByTestId('message-filter').fill('"args"');
    await until(async () => ((await page.locator('[data-testid="timeline"] [data-seq]').count()) === 2 ? true : undefined), 'the text filter');
    await page.getByTestId('message-filter').fill('result":(3|42)\\b');
    await page.getByLabel('regex').check();
    await until(async () => ((await page.locator('[data-testid="timeline"] [data-seq]').count()) === 2 ? true : undefined), 'the regex filter');
    expect(await text(page, '[data-testid="timeline"] [data-seq]')).toContain('"result":3');

    // The close: who, the code and what it means, clean or not; the latency percentiles.
    await closeClient(c, 4000, 'bye now');
    await page.getByText('application-defined').waitFor();
    const close = await text(page, '[data-testid="close"]');
    expect(close).toContain('4000');
    expect(close).toContain('the client');
    expect(close).toContain('"bye now"');
    expect(close).toContain('yes: both sides sent a close frame');
    expect(await text(page, '[data-testid="latency-requests"]')).toMatch(/p50 [\d.]+ ms.*\(2 pairs, by id\)/);
    expect(await page.locator('[data-testid="latency-chart"] canvas').count()).toBeGreaterThan(0);

    // A deep link: reloading opens the same session with the same message selected.
    await page.reload();
    await until(
      async () => ((await page.getByTestId('message-detail').getAttribute('data-seq')) === '3' ? true : undefined),
      'the selection after reload',
    );
    expect(await text(page, 'h1')).toContain('/rpc');
    expect(errors).toEqual([]);
  });

  it('the handshake is annotated: a duplicate Origin marked, the secret redacted; the hand-off commands carry placeholders, not secrets', async () => {
    const { tp, view } = await rig();
    const secret = 'sup3r-s3cret-t0ken-value';
    const c = await openClient(tp.wsUrl(`/secure?token=${secret}`), [], {
      headers: { Origin: ['http://localhost:3000', 'http://localhost:3000'] as unknown as string, Authorization: `Bearer ${secret}` },
    });
    await c.ask(JSON.stringify({ id: 7, op: 'sum', args: [1] }));
    const { page } = await openView(`${view}sessions/ws-1`);
    const handshake = page.getByTestId('handshake');
    await handshake.waitFor();
    const marked = handshake.locator('.h-line.marked');
    expect(await marked.count()).toBe(2);
    expect(await marked.first().textContent()).toContain('duplicate (2 lines)');
    expect(await marked.first().textContent()).toContain('origin-duplicate');
    const html = await page.content();
    expect(html).not.toContain(secret);
    expect(await text(page, '[data-command="websocat"] pre')).toContain("-H 'Authorization: Bearer <Authorization>'");
    expect(await text(page, '[data-command="websocat"] pre')).toContain(`ws://127.0.0.1:${tp.port}/secure?token=<token>`);
    expect(await text(page, '[data-command="wscat"] pre')).toContain('-o http://localhost:3000');
    expect(await text(page, '[data-command="wstap replay"] pre')).toMatch(
      /curl -sSfo ws-1\.jsonl .*ws-1\.jsonl && npx wstap replay ws-1\.jsonl --target ws:\/\/127\.0\.0\.1:\d+ --secret 'Authorization=Bearer <Authorization>' --secret 'token=<token>'$/,
    );
    await closeClient(c);
  });

  it('a page on a foreign name (DNS rebinding: evil.test resolving to 127.0.0.1) is refused, the same page by IP address is served', async () => {
    const { view } = await rig();
    const port = new URL(view).port;
    const rebinding = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP evil.test 127.0.0.1'] });
    defer(() => rebinding.close());
    const page = await rebinding.newPage();
    const refused = await page.goto(`http://evil.test:${port}/__wstap/`);
    expect(refused?.status()).toBe(421);
    expect(await page.textContent('body')).toContain('DNS rebinding');
    const api = await page.goto(`http://evil.test:${port}/__wstap/api/sessions`);
    expect(api?.status()).toBe(421);
    const ok = await page.goto(view);
    expect(ok?.status()).toBe(200);
    expect(ok?.headers()['content-security-policy']).toContain("default-src 'none'");
  });

  it('following: scrolled up, the rows in view stay put as messages arrive; pause holds new ones, counted, until resumed', async () => {
    const { tp, view } = await rig();
    const c = await openClient(tp.wsUrl('/rpc'));
    const ask = async (from: number, n: number): Promise<void> => {
      const before = c.received.length;
      for (let id = from; id < from + n; id++) c.ws.send(JSON.stringify({ id, op: 'sum', args: [id] }));
      await until(() => (c.received.length >= before + n ? true : undefined), 'the answers');
    };
    await ask(1, 200);
    const { page } = await openView(`${view}sessions/ws-1`);
    const timeline = page.getByTestId('timeline');
    await timeline.locator('[data-seq="400"]').waitFor();
    // Scrolled to the top: row #1 is in view, and stays in view while 200 more arrive.
    await timeline.evaluate((el) => {
      el.scrollTop = 0;
    });
    await page.getByRole('button', { name: '↓ follow the newest' }).waitFor();
    await ask(201, 200);
    await until(async () => ((await text(page, '[data-testid="message-count"]')).includes('800 of') ? true : undefined), 'the new messages counted');
    expect(await timeline.evaluate((el) => el.scrollTop)).toBe(0);
    expect(await timeline.locator('[data-seq="1"]').isVisible()).toBe(true);
    await page.getByRole('button', { name: '↓ follow the newest' }).click();
    await timeline.locator('[data-seq="800"]').waitFor();
    // Paused: new messages are held and counted, not shown; resumed, they are.
    await page.getByTestId('pause').click();
    await ask(401, 50);
    await until(async () => ((await page.getByTestId('pause').textContent())?.includes('(100 new)') ? true : undefined), 'the held count');
    expect(await timeline.locator('[data-seq="900"]').count()).toBe(0);
    await page.getByTestId('pause').click();
    await timeline.locator('[data-seq="900"]').waitFor();
    await closeClient(c);
  });

  it('a page following a session of 120,000 messages keeps up: the newest shown, the page bounded with a note, filters still work', async () => {
    const backend = await startWsServer();
    backend.wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d.toString())));
    const history = new SessionHistory();
    const tp = await openTestProxy({ target: backend.url, history, sinks: [history] });
    const c = await openClient(tp.wsUrl('/firehose'));
    const { page, errors } = await openView(`http://127.0.0.1:${tp.port}/__wstap/sessions/ws-1`);
    await page.getByTestId('timeline').waitFor();
    const total = 60_000;
    // In bursts of 1,000 round trips: 120,000 messages through one session as fast as it goes.
    for (let i = 1; i <= total; i += 1000) {
      const n = c.received.length;
      for (let k = i; k < i + 1000; k++) c.ws.send(`{"id":${k}}`);
      await until(() => (c.received.length >= n + 1000 ? true : undefined), 'a burst of answers');
    }
    await page.locator(`[data-testid="timeline"] [data-seq="${total * 2}"]`).waitFor({ timeout: 60_000 });
    const shown = (await text(page, '[data-testid="message-count"]')).replace(/,/g, '');
    const kept = Number(/of (\d+) shown/.exec(shown)?.[1]);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(100_000);
    // What the page (or wstap's history, if the page fell behind) let go is said.
    expect(await text(page, '[data-testid="message-evicted"]')).toMatch(/older messages were let go by (this page|wstap)/);
    await page.getByTestId('message-filter').fill('"id":5999');
    // Ten requests and their ten (text) echoes among the kept messages; the earlier "id":5999 went with the oldest.
    await until(
      async () => ((await page.locator('[data-testid="timeline"] [data-seq]').count()) === 20 ? true : undefined),
      'the filter over the kept messages',
      {
        // Filtering 100,000 messages in a page, on a loaded machine, may take longer than the default 5 s.
        timeoutMs: 20_000,
        seen: () => 'a different count',
      },
    );
    // Of the messages kept: 100,000 when the page kept up, fewer when wstap's history let some go first.
    expect(await text(page, '[data-testid="message-count"]')).toBe(`20 of ${kept.toLocaleString('en-US')} shown`);
    expect(errors).toEqual([]);
    await closeClient(c);
  }, 120_000);

  it('the screenshot in the README is of this page (written to docs/ when UPDATE_SCREENSHOTS=1)', async () => {
    const { tp, view } = await rig();
    const c = await openClient(tp.wsUrl('/ws'), [], { headers: { Origin: ['http://localhost:3000', 'http://localhost:3000'] as unknown as string } });
    for (let i = 1; i <= 6; i++) await c.ask(JSON.stringify({ id: i, op: 'sum', args: [i, i * 10] }));
    const pong = once(c.ws, 'pong');
    c.ws.ping('client-hb');
    await withTimeout(pong, 5000, 'the pong to the client heartbeat');
    const { page } = await openView(`${view}sessions/ws-1?m=8`);
    await page.locator('[data-testid="timeline"] [data-seq="12"]').waitFor();
    await page.getByTestId('json-tree').waitFor();
    const png = await page.screenshot();
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.length).toBeGreaterThan(20_000);
    if (process.env['UPDATE_SCREENSHOTS'] === '1') {
      mkdirSync(path.join(ROOT, 'docs/images'), { recursive: true });
      writeFileSync(path.join(ROOT, 'docs/images/live-view.png'), png);
    }
    await closeClient(c);
  });
});
