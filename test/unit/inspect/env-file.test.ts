/** wstap check --dotenv: a WebSocket URL without a path is flagged; one with a path is not. */
import { describe, expect, it } from 'vitest';
import { diagnoseEnv } from '../../../src/inspect/environment/env-file.js';

describe('the env file diagnosis', () => {
  it('flags NEXT_PUBLIC_WS_URL without a path, and says where it goes and what to add', () => {
    const d = diagnoseEnv(new Map([['NEXT_PUBLIC_WS_URL', 'ws://localhost:8001']]), '.env.local');
    expect(d.findings.map((f) => f.code)).toEqual(['env-ws-path-missing']);
    expect(d.findings[0]!.message).toBe('NEXT_PUBLIC_WS_URL=ws://localhost:8001 has no path: the upgrade goes to /.');
    expect(d.findings[0]!.hint).toMatch(/NEXT_PUBLIC_WS_URL=ws:\/\/localhost:8001\/ws/);
    expect(d.findings[0]!.severity).toBe('warn');
  });

  it('a URL with a path, or a trailing slash only on a real path, is not flagged', () => {
    for (const url of ['ws://localhost:8001/ws', 'ws://localhost:8001/ws/', 'wss://api.example.com/socket?x=1']) {
      expect(diagnoseEnv(new Map([['NEXT_PUBLIC_WS_URL', url]])).findings.map((f) => f.code)).not.toContain('env-ws-path-missing');
    }
  });
});
