/**
 * A delay rule seen by clients that are not ours: python-websockets (Debian's, the client many
 * backend test suites use) measures its round trips through wstap to a FastAPI/uvicorn echo;
 * the answers the rule selects come back the rule's delay later, the others do not.
 */
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestProxy, type TestProxy } from '../support/helpers.js';
import { PYTHON, startFastApi, type FastApiBackend } from '../support/peers/fastapi.js';

let api: FastApiBackend;
let tp: TestProxy;
beforeAll(async () => {
  api = await startFastApi();
  tp = await openTestProxy({ target: api.url, faults: ['delay=200ms to=client match=^slow'] });
}, 30_000);
afterAll(async () => {
  await tp?.close();
  await api?.close();
});

/** Round trips of python-websockets: one message at a time, each answer awaited; milliseconds each. */
const CLIENT = `
import asyncio, json, sys, time, websockets
async def main():
    async with websockets.connect(sys.argv[1]) as ws:
        out = []
        for text in sys.argv[2:]:
            t0 = time.perf_counter()
            await ws.send(text)
            answer = await ws.recv()
            out.append({"text": answer, "ms": (time.perf_counter() - t0) * 1000})
        print(json.dumps(out))
asyncio.run(main())
`;

function roundTrips(url: string, texts: string[]): Promise<{ text: string; ms: number }[]> {
  return new Promise((resolve, reject) =>
    execFile(PYTHON, ['-c', CLIENT, url, ...texts], { timeout: 20_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(JSON.parse(stdout) as { text: string; ms: number }[]),
    ),
  );
}

describe('delay seen by python-websockets', () => {
  it('delay=200ms to=client match=^slow: the slow round trips take 200 ms more, the fast ones do not', async () => {
    const texts = ['fast 1', 'slow 1', 'fast 2', 'slow 2', 'fast 3'];
    const rts = await roundTrips(tp.wsUrl('/ws?token=t'), texts);
    expect(rts.map((r) => r.text)).toEqual(texts);
    const slow = rts.filter((r) => r.text.startsWith('slow')).map((r) => r.ms);
    const fast = rts.filter((r) => r.text.startsWith('fast')).map((r) => r.ms);
    expect(Math.min(...slow)).toBeGreaterThanOrEqual(195);
    // The others are not delayed: each is well under the fastest delayed one (a bound relative to this run, not a speed).
    expect(Math.max(...fast)).toBeLessThan(Math.min(...slow) - 100);
  });
});
