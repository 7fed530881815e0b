/**
 * Headless Chromium from Debian's package (never a downloaded browser), driven by
 * playwright-core, with a page served from 127.0.0.1. A missing Chromium fails the test that
 * asks for it: .ci/run installs it.
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { until } from '../wait.js';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** How long a test file waits for Debian's chromium to appear (.ci/run may still be installing it). */
export const CHROMIUM_WAIT_MS = 240_000;

/**
 * One Chromium for a test file: launched before its tests (after waiting for the binary), closed
 * after them. Call at the top of the file; the getter gives the browser inside a test.
 */
export function chromiumForFile(): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    await until(() => existsSync(CHROMIUM), `${CHROMIUM} to appear (install Debian's chromium package: apt-get install -y chromium)`, {
      timeoutMs: CHROMIUM_WAIT_MS,
      intervalMs: 2000,
    });
    browser = await launchChromium();
  }, CHROMIUM_WAIT_MS + 30_000);
  afterAll(async () => {
    await browser?.close();
  });
  return () => {
    if (!browser) throw new Error('Chromium was not launched');
    return browser;
  };
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)`);
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** A page at http://127.0.0.1:PORT/ with the given HTML; close() stops the server. */
export async function servePage(browser: Browser, html: string): Promise<{ page: Page; origin: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${origin}/`);
  return {
    page,
    origin,
    close: async () => {
      await context.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A file at http://127.0.0.1:PORT/ (any query), for a page that ships as a file (examples/frontend/index.html). */
export async function serveFile(browser: Browser, file: string): Promise<{ page: Page; origin: string; close(): Promise<void> }> {
  return servePage(browser, readFileSync(file, 'utf8'));
}

/** What a page saw of one WebSocket: opened or not, the messages, and how it closed. */
export interface PageSocketResult {
  opened: boolean;
  protocol: string;
  received: string[];
  close: { code: number; reason: string; wasClean: boolean };
}

/** The script that opens a WebSocket in the page, sends texts once open, and reports when it closes (or after ms). */
export function openInPage(
  page: Page,
  url: string,
  opts: { protocols?: string[]; send?: string[]; closeAfterMs?: number },
): Promise<PageSocketResult> {
  return page.evaluate(
    ([u, protocols, send, closeAfterMs]) =>
      new Promise<PageSocketResult>((resolve) => {
        const ws = protocols.length ? new WebSocket(u, protocols) : new WebSocket(u);
        const out = { opened: false, protocol: '', received: [] as string[] };
        ws.onopen = () => {
          out.opened = true;
          out.protocol = ws.protocol;
          for (const t of send) ws.send(t);
          setTimeout(() => ws.close(1000, 'page done'), closeAfterMs);
        };
        ws.onmessage = (e) => out.received.push(String(e.data));
        ws.onclose = (e) => resolve({ ...out, close: { code: e.code, reason: e.reason, wasClean: e.wasClean } });
      }),
    [url, opts.protocols ?? [], opts.send ?? [], opts.closeAfterMs ?? 300] as const,
  );
}
