import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { runDeferred } from '../support/cleanup.js';
import { openRawBackend, openTestProxy, readEnded, refusedPort } from '../support/helpers.js';
import { withTimeout } from '../support/wait.js';

afterEach(runDeferred);

describe('/__wstap/health', () => {
  it('answers itself, never forwards, and reports the target as reachable', async () => {
    const backend = await openRawBackend();
    const tp = await openTestProxy({ target: backend.url });
    const res = await request(`${tp.url}/__wstap/health`);
    expect(res.statusCode).toBe(200);
    const body = (await res.body.json()) as { status: string; target: { url: string; reachable: boolean } };
    expect(body.status).toBe('ok');
    expect(body.target).toMatchObject({ url: backend.url, reachable: true });
    // The probe opens a TCP connection and sends nothing: no request reached the backend. Once the
    // probe has closed its connection, nothing more can come on it.
    const probe = await backend.connection(0);
    await withTimeout(readEnded(probe.socket), 5000, "the end of the health probe's connection");
    expect(backend.connections.every((c) => c.received().length === 0)).toBe(true);
  });

  it('stays 200 when the target is down, and says why', async () => {
    const tp = await openTestProxy({ target: `http://127.0.0.1:${await refusedPort()}` });
    const res = await request(`${tp.url}/__wstap/health`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toMatchObject({ status: 'ok', target: { reachable: false, error: 'ECONNREFUSED' } });
  });
});
