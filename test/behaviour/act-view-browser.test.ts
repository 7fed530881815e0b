/**
 * The live view's controls in real Chromium (issue 14): with the control token taken from the
 * address fragment, a fault rule and a breakpoint are added from the page, a held message is
 * edited and forwarded, a message is sent to the client, the session is closed with a code;
 * the page lists what wstap did. Without the token nothing changes.
 */
import type { Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionHistory } from '../../src/sinks/history.js';
import { startWsServer } from '../support/backends.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { openTestProxy, type TestProxy } from '../support/helpers.js';
import { chromiumForFile } from '../support/peers/chromium.js';
import { openClient } from '../support/recording.js';
import { sleep, until } from '../support/wait.js';

const getBrowser = chromiumForFile();
afterEach(runDeferred);

async function rig(): Promise<{ tp: TestProxy; got: string[] }> {
  const backend = await startWsServer();
  const got: string[] = [];
  backend.wss.on('connection', (ws) => ws.on('message', (d) => got.push(d.toString())));
  const history = new SessionHistory();
  const tp = await openTestProxy({ target: backend.url, history, sinks: [history] });
  return { tp, got };
}

async function open(url: string): Promise<Page> {
  const context = await getBrowser().newContext({ viewport: { width: 1500, height: 1000 } });
  defer(() => context.close());
  const page = await context.newPage();
  await page.goto(url);
  return page;
}

describe('the live view controls in Chromium', () => {
  it('rules, a breakpoint, an edited release, a message sent and a close, all from the page; the page lists what wstap did', async () => {
    const { tp, got } = await rig();
    const base = `http://127.0.0.1:${tp.port}/__wstap/`;
    const list = await open(`${base}#token=${tp.proxy.controlToken}`);
    await list.getByTestId('token-set').waitFor();
    // The token left the address bar.
    expect(list.url()).toBe(base);
    await list.getByTestId('new-rule').fill('drop to=nobody');
    await list.getByTestId('add-rule').click();
    expect(await list.getByTestId('rule-error').textContent()).toContain('at 6: to=client, to=server or to=both');
    await list.getByTestId('new-rule').fill('delay=10ms to=client');
    await list.getByTestId('add-rule').click();
    await list.locator('[data-rule="1"]').waitFor();
    await list.getByLabel('rule kind').selectOption('breakpoint');
    await list.getByTestId('new-rule').fill('to=server match=order');
    await list.getByTestId('add-rule').click();
    await list.locator('[data-breakpoint="1"]').waitFor();
    expect(tp.proxy.faults.list().map((e) => e.rule.text)).toEqual(['delay=10ms to=client']);

    // A session the rules take: its held message is edited on its page and forwarded.
    const c = await openClient(tp.wsUrl('/shop'));
    c.ws.send('{"order":1,"total":10}');
    // The same tab keeps the token (sessionStorage): follow the session's link.
    const page = list;
    await page.locator('tr[data-session="ws-1"] a').click();
    await page.waitForURL(`${base}sessions/ws-1`);
    const held = page.locator('[data-held="1"]');
    await held.waitFor();
    await held.locator('textarea').fill('{"order":1,"total":99}');
    await held.getByTestId('forward-edited').click();
    await until(() => (got.length ? true : undefined), 'the backend to get the edited message');
    expect(got).toEqual(['{"order":1,"total":99}']);

    // A message to the client, then a close with a code.
    await page.getByTestId('send-text').fill('pushed from the page');
    await page.getByTestId('send').click();
    await until(() => c.received.find((r) => r.text === 'pushed from the page'), 'the client to get it');
    await page.getByLabel('close code').fill('4005');
    await page.getByLabel('close reason').fill('page says bye');
    await page.getByTestId('close-session').click();
    expect(await c.closed).toEqual({ code: 4005, reason: 'page says bye' });
    const actions = page.getByTestId('actions');
    await until(async () => ((await actions.textContent())?.includes('sent close 4005') ? true : undefined), 'the close in the list');
    const text = (await actions.textContent()) ?? '';
    for (const kind of ['hold', 'edit', 'send', 'close']) expect(text).toContain(kind);
    await page.goto(base);
    await page.locator('tr[data-session="ws-1"] [data-testid="altered"]').waitFor();
    expect(await page.getByTestId('token-set').count()).toBe(1);
  });

  it('without the token the controls are off, and a forced request changes nothing (401)', async () => {
    const { tp } = await rig();
    const c = await openClient(tp.wsUrl('/ws'));
    const page = await open(`http://127.0.0.1:${tp.port}/__wstap/sessions/ws-1`);
    await page.getByTestId('act').waitFor();
    expect(await page.getByTestId('send').isDisabled()).toBe(true);
    // A wrong token pasted: the API refuses, the page says why, the client got nothing.
    await page.getByLabel('control token').fill('not-the-token');
    await page.getByRole('button', { name: 'use', exact: true }).click();
    await page.getByTestId('send-text').fill('should not arrive');
    await page.getByTestId('send').click();
    const status = page.getByTestId('act-status');
    await until(async () => (await status.textContent())?.includes('the control token is missing or wrong'), 'the page to say the token is wrong', {
      seen: () => 'another status',
    });
    // A real-time wait for a negative: the refused send reaches no client.
    await sleep(100);
    expect(c.received).toEqual([]);
  });
});
