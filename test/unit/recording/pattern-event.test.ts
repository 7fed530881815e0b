/**
 * A pattern finding in a recording: the recorder writes it as a `pattern` event (redacted like
 * every line), the loader gives it back in `patterns`, beside the sessions.
 */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { inspectReconnectLoop } from '../../../src/inspect/registry.js';
import { parseRecording } from '../../../src/recording/loader.js';
import { Recorder } from '../../../src/sinks/recorder.js';
import { tmpFile } from '../../support/temp.js';

describe('pattern events in a recording', () => {
  it('written by the recorder, read back by the loader', async () => {
    const file = tmpFile('patterns.jsonl');
    const recorder = new Recorder({ file, version: 'test', logger: pino({ level: 'silent' }) });
    const finding = inspectReconnectLoop({
      client: '10.0.0.5, Origin http://localhost:3000, /ws',
      count: 3,
      spanMs: 900,
      end: { cause: 'close 1008 by the server', code: 1008 },
      sessions: ['ws-1', 'ws-2', 'ws-3'],
    })!;
    recorder.pattern({ finding, client: '10.0.0.5, Origin http://localhost:3000, /ws', sessions: ['ws-1', 'ws-2', 'ws-3'], ts: 1_700_000_000_000 });
    await recorder.flush();
    const rec = parseRecording(readFileSync(file, 'utf8'), file);
    expect(rec.patterns).toEqual([
      {
        type: 'pattern',
        ts: 1_700_000_000_000,
        code: 'reconnect-loop',
        severity: 'warn',
        message: finding.message,
        hint: finding.hint,
        client: '10.0.0.5, Origin http://localhost:3000, /ws',
        sessions: ['ws-1', 'ws-2', 'ws-3'],
      },
    ]);
  });
});
