// A browser page on wstap's live view, for the bench (a separate process, like the load generator).
// Usage: node bench/view-page.mjs <view base url, e.g. http://127.0.0.1:PORT/__wstap/>
// Protocol on stdout/stdin, one JSON line each:
//   ← follow            open the page of the newest open session and follow it
//   → {"event":"following", "session": id}
//   ← mark              start counting long tasks (the measured phase begins)
//   ← report            → {"event":"report", longestTaskMs, longTasks, lastSeq, shown}
// Headless Chromium from Debian (/usr/bin/chromium), never a downloaded browser.
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const base = process.argv[2];
const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const fail = (err) => {
  emit({ event: 'error', error: String(err?.stack ?? err) });
  process.exit(1);
};
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
if (!existsSync(CHROMIUM)) fail(new Error(`${CHROMIUM} is missing (apt-get install -y chromium)`));

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
// Every task longer than 50 ms on the page's main thread (the Long Tasks API), from the first script on.
await page.addInitScript(() => {
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push(e.duration);
  }).observe({ type: 'longtask', buffered: true });
});
emit({ event: 'ready' });

const commands = {
  async follow() {
    let id;
    for (let i = 0; i < 100 && !id; i++) {
      const list = await (await fetch(`${base}api/sessions`)).json();
      id = list.sessions.find((s) => s.open)?.id;
      if (!id) await new Promise((r) => setTimeout(r, 100));
    }
    if (!id) throw new Error('no open session to follow');
    await page.goto(`${base}sessions/${id}`);
    await page.locator('[data-testid="timeline"] [data-seq]').first().waitFor({ timeout: 30_000 });
    emit({ event: 'following', session: id });
  },
  async mark() {
    await page.evaluate(() => {
      window.__longTasks = [];
    });
    emit({ event: 'marked' });
  },
  async report() {
    // Two frames, so what arrived last is drawn.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const r = await page.evaluate(() => {
      const seqs = [...document.querySelectorAll('[data-testid="timeline"] [data-seq]')].map((e) => Number(e.getAttribute('data-seq')));
      return {
        longTasks: window.__longTasks.length,
        longestTaskMs: Math.max(0, ...window.__longTasks),
        lastSeq: Math.max(0, ...seqs),
        shown: document.querySelector('[data-testid="message-count"]')?.textContent ?? '',
      };
    });
    emit({ event: 'report', ...r });
  },
};

createInterface({ input: process.stdin })
  .on('line', (line) => {
    const fn = commands[line.trim()];
    if (fn) fn().catch(fail);
  })
  .on('close', async () => {
    await browser.close();
    process.exit(0);
  });
