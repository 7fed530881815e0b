/**
 * `wstap check` and its environment: inside a container (WSTAP_IN_CONTAINER) with a
 * localhost or a service-name target, and the frontend's .env files (--dotenv, --env-file)
 * with the guide's mistakes or consistent. Real backends on 127.0.0.1.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCheck } from '../../src/check/run-check.js';
import { demoBackend } from '../support/backends.js';
import { BYPASS, checkJson, codes, step, wsUrl } from '../support/check.js';
import { runDeferred } from '../support/cleanup.js';
import { fakeJwt, refusedPort } from '../support/helpers.js';
import { ensureBuilt } from '../support/process.js';
import { writeTmpFile } from '../support/temp.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

describe('wstap check: environment', () => {
  it('inside a container with a localhost target where nothing answers: localhost-in-container suggests the service name', async () => {
    const down = await refusedPort();
    const token = fakeJwt(600);
    const { r, result } = await checkJson([`ws://localhost:${down}/ws?token=${token}`, '--origin', 'http://localhost:3000', '--linger', '50'], {
      WSTAP_IN_CONTAINER: 'true',
    });
    expect(r.code).toBe(1);
    const env = step(result, 'environment');
    expect(env.verdict).toBe('warn');
    expect(codes(env)).toEqual(['localhost-in-container']);
    expect(env.findings[0]!.hint).toContain(`ws://backend:${down}/ws.`);
    expect(r.stdout).not.toContain(token);
  });

  it('inside a container with a localhost target that answers (a dev container): no warning', async () => {
    const b = await demoBackend(BYPASS);
    const { r, result } = await checkJson(
      [`ws://localhost:${b.port}/ws?token=${fakeJwt(600)}`, '--origin', 'http://localhost:3000', '--linger', '50'],
      {
        WSTAP_IN_CONTAINER: 'true',
      },
    );
    expect(r.code).toBe(0);
    expect(step(result, 'environment')).toMatchObject({ verdict: 'ok', findings: [] });
  });

  it('inside a container with a service-name target: no warning; outside a container: no environment step', async () => {
    const inside = await runCheck({ url: 'ws://wstap-backend.invalid:8000/ws', container: { inContainer: true, evidence: '/.dockerenv' } });
    expect(step(inside, 'environment')).toMatchObject({ verdict: 'ok', findings: [] });
    const b = await demoBackend(BYPASS);
    const outside = await runCheck({ url: wsUrl(b.port), lingerMs: 50, container: { inContainer: false } });
    expect(outside.steps.some((s) => s.name === 'environment')).toBe(false);
  });

  it("--dotenv with the guide's mistakes: a service name in the browser URL, mismatched hosts and schemes, a bypass outside development", async () => {
    const b = await demoBackend(BYPASS);
    const file = writeTmpFile(
      '.env.local',
      [
        '# frontend',
        'NEXT_PUBLIC_WS_URL=ws://backend:8000/ws',
        'NEXT_PUBLIC_WEBSOCKET_URL="ws://localhost:8001/ws"',
        'NEXT_PUBLIC_API_URL=https://127.0.0.1:8000',
        'export ALLOW_DEV_AUTH_BYPASS=true',
        'ENVIRONMENT=production # not development',
        '',
      ].join('\n'),
    );
    const { r, result } = await checkJson([wsUrl(b.port), '--dotenv', file, '--linger', '50']);
    expect(r.code).toBe(1);
    const env = step(result, 'env-file');
    expect(env.verdict).toBe('error');
    expect(codes(env)).toEqual(['env-unreachable-url', 'env-inconsistent', 'env-inconsistent', 'env-auth-bypass']);
    expect(env.findings[0]!.message).toContain('"backend"');
    expect(env.findings[0]!.hint).toContain('NEXT_PUBLIC_WS_URL=ws://localhost:8000/ws');
    expect(env.detail).toContain('ENVIRONMENT=production');
    // The endpoint itself is fine.
    expect(step(result, 'linger').verdict).toBe('ok');
  });

  it("--dotenv without a URL checks the frontend's NEXT_PUBLIC_WS_URL; a consistent file passes (and so does --env-file, its other name)", async () => {
    const b = await demoBackend(BYPASS);
    const file = writeTmpFile(
      '.env.development.local',
      `NEXT_PUBLIC_WS_URL=ws://localhost:${b.port}/ws\nNEXT_PUBLIC_API_URL=http://localhost:${b.port}\nALLOW_DEV_AUTH_BYPASS=true\nWEBSOCKET_AUTH_BYPASS=true\nENVIRONMENT=development\n`,
    );
    for (const flag of ['--dotenv', '--env-file']) {
      const { r, result } = await checkJson([flag, file, '--origin', 'http://localhost:3000', '--linger', '100']);
      expect(r.code).toBe(0);
      expect(result.url).toBe(`ws://localhost:${b.port}/ws`);
      expect(step(result, 'env-file')).toMatchObject({ verdict: 'ok', findings: [] });
      expect(step(result, 'linger').verdict).toBe('ok');
    }
  });
});
