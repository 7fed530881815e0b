/**
 * The frontend's .env files diagnosed (src/inspect/environment/env-file.ts) on their own, as
 * `wstap check --dotenv` reads them: dotenv syntax, URLs a browser cannot reach, variables that
 * disagree, a WebSocket URL without a path, the auth bypass outside development; a URL's query
 * is never shown.
 */
import { describe, expect, it } from 'vitest';
import { diagnoseEnv, parseEnvFile } from '../../../src/inspect/environment/env-file.js';

describe('the env file diagnosis', () => {
  it('flags NEXT_PUBLIC_WS_URL without a path, and says where it goes and what to add', () => {
    const d = diagnoseEnv(new Map([['NEXT_PUBLIC_WS_URL', 'ws://localhost:8001']]), '.env.local');
    expect(d.findings.map((f) => f.code)).toEqual(['env-ws-path-missing']);
    expect(d.findings[0]!.message).toBe(
      'NEXT_PUBLIC_WS_URL=ws://localhost:8001 has no path: a frontend that connects to it as it is sends the upgrade to /.',
    );
    expect(d.findings[0]!.hint).toMatch(/NEXT_PUBLIC_WS_URL=ws:\/\/localhost:8001\/ws/);
    expect(d.findings[0]!.severity).toBe('warn');
  });

  it("a base URL beside a WebSocket URL with a path (the guide's pair) is not flagged", () => {
    const d = diagnoseEnv(
      new Map([
        ['NEXT_PUBLIC_WS_URL', 'ws://localhost:8000'],
        ['NEXT_PUBLIC_WEBSOCKET_URL', 'ws://localhost:8000/ws'],
      ]),
    );
    expect(d.findings).toEqual([]);
  });

  it('a URL with a path, or a trailing slash only on a real path, is not flagged', () => {
    for (const url of ['ws://localhost:8001/ws', 'ws://localhost:8001/ws/', 'wss://api.example.com/socket?x=1']) {
      expect(diagnoseEnv(new Map([['NEXT_PUBLIC_WS_URL', url]])).findings.map((f) => f.code)).not.toContain('env-ws-path-missing');
    }
  });
});

describe('env file diagnosis (unit)', () => {
  it('parses dotenv syntax: export, quotes, comments, CRLF', () => {
    const vars = parseEnvFile('\uFEFF# c\r\nexport A=1\r\nB="two # words"\nC=\'x\' \nD=plain # comment\nE=\nnot a line\n');
    expect(Object.fromEntries(vars)).toEqual({ A: '1', B: 'two # words', C: 'x', D: 'plain', E: '' });
  });

  it("the guide's own checklist is consistent", () => {
    const d = diagnoseEnv(
      new Map([
        ['NEXT_PUBLIC_WEBSOCKET_URL', 'ws://localhost:8000/ws'],
        ['NEXT_PUBLIC_API_URL', 'http://localhost:8000'],
        ['NEXT_PUBLIC_WS_URL', 'ws://localhost:8000'],
        ['ALLOW_DEV_AUTH_BYPASS', 'true'],
        ['WEBSOCKET_AUTH_BYPASS', 'true'],
        ['ENVIRONMENT', 'development'],
      ]),
    );
    expect(d.findings).toEqual([]);
    expect(d.wsUrl).toBe('ws://localhost:8000');
  });

  it('wstap on 8001 and the API on 8000 is the intended setup, not an inconsistency', () => {
    const d = diagnoseEnv(
      new Map([
        ['NEXT_PUBLIC_WS_URL', 'ws://localhost:8001/ws'],
        ['NEXT_PUBLIC_API_URL', 'http://localhost:8000'],
      ]),
    );
    expect(d.findings).toEqual([]);
  });

  it('flags 0.0.0.0, a URL that is not one, http:// for a WebSocket, two WebSocket variables that disagree', () => {
    const f = (entries: [string, string][]): string[] => diagnoseEnv(new Map(entries)).findings.map((x) => x.code);
    expect(f([['NEXT_PUBLIC_WS_URL', 'ws://0.0.0.0:8000/ws']])).toEqual(['env-unreachable-url']);
    expect(f([['NEXT_PUBLIC_WS_URL', 'localhost:8000']])).toEqual(['env-unreachable-url']);
    expect(f([['NEXT_PUBLIC_API_URL', 'http://api:8000']])).toEqual(['env-unreachable-url']);
    expect(f([['NEXT_PUBLIC_WS_URL', 'http://localhost:8000/ws']])).toEqual(['env-inconsistent']);
    expect(
      f([
        ['NEXT_PUBLIC_WS_URL', 'ws://localhost:8001/ws'],
        ['NEXT_PUBLIC_WEBSOCKET_URL', 'ws://localhost:8000/ws'],
      ]),
    ).toEqual(['env-inconsistent']);
    expect(
      f([
        ['NEXT_PUBLIC_WS_URL', 'wss://localhost/ws'],
        ['NEXT_PUBLIC_API_URL', 'http://localhost'],
      ]),
    ).toEqual(['env-inconsistent']);
    expect(
      f([
        ['NEXT_PUBLIC_WS_URL', 'ws://app.example.com/ws'],
        ['NEXT_PUBLIC_API_URL', 'http://app.example.com'],
      ]),
    ).toEqual([]);
  });

  it('the auth bypass: outside development, without ENVIRONMENT, or half set', () => {
    const f = (entries: [string, string][]): string[] => diagnoseEnv(new Map(entries)).findings.map((x) => x.code);
    expect(
      f([
        ['WEBSOCKET_AUTH_BYPASS', 'true'],
        ['ENVIRONMENT', 'staging'],
      ]),
    ).toEqual(['env-auth-bypass']);
    expect(
      f([
        ['ALLOW_DEV_AUTH_BYPASS', 'true'],
        ['WEBSOCKET_AUTH_BYPASS', 'true'],
      ]),
    ).toEqual(['env-auth-bypass']);
    expect(
      f([
        ['ALLOW_DEV_AUTH_BYPASS', 'true'],
        ['ENVIRONMENT', 'development'],
      ]),
    ).toEqual(['env-auth-bypass']);
    expect(
      f([
        ['ALLOW_DEV_AUTH_BYPASS', 'false'],
        ['ENVIRONMENT', 'production'],
      ]),
    ).toEqual([]);
  });

  it("never shows a URL's query (it may carry a token)", () => {
    const d = diagnoseEnv(new Map([['NEXT_PUBLIC_WS_URL', 'ws://backend:8000/ws?token=s3cret']]));
    expect(JSON.stringify(d.variables)).not.toContain('s3cret');
    expect(d.variables['NEXT_PUBLIC_WS_URL']).toBe('ws://backend:8000/ws');
    expect(d.findings.map((x) => `${x.message} ${x.hint}`).join(' ')).not.toContain('s3cret');
  });
});
