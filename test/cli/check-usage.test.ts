/**
 * `wstap check` usage errors through the real bin: each exits 2 with one line on stderr
 * and nothing on stdout.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { wstap } from '../support/check.js';
import { runDeferred } from '../support/cleanup.js';
import { ensureBuilt } from '../support/process.js';
import { writeTmpFile } from '../support/temp.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

describe('wstap check: usage errors exit 2 with one line on stderr', () => {
  const cases: [string, string[]][] = [
    ['no URL and no --dotenv', ['check']],
    [
      'a --dotenv file that does not exist (wstap says so; Node does not stop first, as it does for --env-file)',
      ['check', '--dotenv', '/nonexistent/.env.local'],
    ],
    ['a scheme that is not ws, wss, http or https', ['check', 'ftp://localhost:8000/ws']],
    ['not a URL', ['check', 'localhost:8000']],
    ['an unknown --origins preset', ['check', 'ws://localhost:8000/ws', '--origins', 'docker-prod']],
    ['a header without a colon', ['check', 'ws://localhost:8000/ws', '-H', 'Authorization']],
    ['a negative --linger', ['check', 'ws://localhost:8000/ws', '--linger', '-5']],
    ['a health path without a slash', ['check', 'ws://localhost:8000/ws', '--health', 'health']],
    ['an unknown option', ['check', 'ws://localhost:8000/ws', '--orign', 'http://localhost:3000']],
  ];
  for (const [what, args] of cases) {
    it(what, async () => {
      const r = await wstap(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    });
  }

  it('a --dotenv file that sets no WebSocket URL, without a URL', async () => {
    const file = writeTmpFile('.env', 'ENVIRONMENT=development\n');
    const r = await wstap(['check', '--dotenv', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('NEXT_PUBLIC_WS_URL');
  });
});
