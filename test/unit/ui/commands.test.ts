/**
 * The hand-off commands of a session (src/ui/commands.ts): websocat and wscat with the
 * handshake's headers, a wstap replay of its recording; every redacted secret a named
 * placeholder, every argument quoted for a POSIX shell (checked by running it through sh).
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { placeholders, replayCommand, shellQuote, websocatCommand, wscatCommand } from '../../../src/ui/commands.js';
import type { HandshakeView } from '../../../src/views/views.js';

const h: HandshakeView = {
  session: 'ws-3',
  client: '127.0.0.1:5000',
  startedAt: 0,
  method: 'GET',
  path: '/ws?token=[redacted]&room=7',
  httpVersion: '1.1',
  origins: ['http://localhost:3000'],
  credentials: [
    { kind: 'query', name: 'token', shape: 'JWT' },
    { kind: 'authorization', name: 'Authorization', scheme: 'Bearer', shape: 'JWT' },
  ],
  subprotocols: { offered: ['graphql-ws'] },
  extensions: { offered: [] },
  outcome: 'tunnel',
  findings: [],
  requestHeaders: [
    { name: 'Host', value: 'localhost:8001' },
    { name: 'Origin', value: 'http://localhost:3000' },
    { name: 'Authorization', value: 'Bearer [redacted]' },
    { name: 'Cookie', value: "sid=[redacted]; theme=it's dark" },
    { name: 'Sec-WebSocket-Protocol', value: 'graphql-ws' },
    { name: 'Sec-WebSocket-Key', value: 'abc' },
  ],
};

/** What sh makes of a command line: its words. */
const words = (cmd: string): string[] =>
  JSON.parse(
    execFileSync('sh', ['-c', `node -e 'console.log(JSON.stringify(process.argv.slice(1)))' -- ${cmd.replace(/^\S+/, '')}`]).toString(),
  ) as string[];

describe('hand-off commands', () => {
  it('websocat: the headers a client sets, secrets as placeholders, through this wstap', () => {
    const cmd = websocatCommand('http://localhost:8001', h);
    expect(cmd.startsWith('websocat ')).toBe(true);
    expect(words(cmd)).toEqual([
      '-H',
      'Origin: http://localhost:3000',
      '-H',
      'Authorization: Bearer <Authorization>',
      '-H',
      "Cookie: sid=<sid>; theme=it's dark",
      '--protocol',
      'graphql-ws',
      'ws://localhost:8001/ws?token=<token>&room=7',
    ]);
  });

  it('wscat: -c, the Origin with -o, each subprotocol with -s', () => {
    expect(words(wscatCommand('http://127.0.0.1:9', h))).toEqual([
      '-c',
      'ws://127.0.0.1:9/ws?token=<token>&room=7',
      '-o',
      'http://localhost:3000',
      '-H',
      'Authorization: Bearer <Authorization>',
      '-H',
      "Cookie: sid=<sid>; theme=it's dark",
      '-s',
      'graphql-ws',
    ]);
  });

  it('wstap replay: fetches the recording, then replays it against the target with a --secret per credential', () => {
    const cmd = replayCommand('http://localhost:8001', 'http://backend:8000', h);
    expect(cmd).toBe(
      "curl -sSfo ws-3.jsonl http://localhost:8001/__wstap/api/sessions/ws-3.jsonl && npx wstap replay ws-3.jsonl --target ws://backend:8000 --secret 'token=<token>' --secret 'Authorization=Bearer <Authorization>'",
    );
  });

  it('placeholders and quoting', () => {
    expect(placeholders('a=[redacted]&b=2', 'x')).toBe('a=<a>&b=2');
    expect(placeholders('Bearer [redacted]', 'Authorization')).toBe('Bearer <Authorization>');
    expect(shellQuote('plain/path:1')).toBe('plain/path:1');
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});
