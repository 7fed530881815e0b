// The load generator (a separate process, pinned apart from the proxy by run.mjs).
// Usage: node bench/loadgen.mjs '<json spec>'
// spec: {url, mode: 'pingpong'|'throughput'|'idle', ...}
// Protocol on stdout/stdin, one JSON line each:
//   → {"event":"ready"}        connected and warmed up, nothing in flight
//   ← go                       (a line on stdin) start the measured phase
//   → {"event":"done", ...}    measured phase over, nothing in flight any more
// idle mode: → {"event":"opened", ...}; ← close; → {"event":"closed", ...}
// Every load is bounded: a count of round trips or a duration, and a hard timeout.
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

const spec = JSON.parse(process.argv[2]);
const HARD_TIMEOUT_MS = spec.hardTimeoutMs ?? 120_000;
setTimeout(() => fail(new Error(`hard timeout (${HARD_TIMEOUT_MS} ms)`)), HARD_TIMEOUT_MS).unref();

function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}
function fail(err) {
  emit({ event: 'error', error: String(err?.stack ?? err) });
  process.exit(1);
}
process.on('uncaughtException', fail);

const lines = createInterface({ input: process.stdin });
const waiting = [];
const early = [];
lines.on('line', (l) => {
  const w = waiting.shift();
  if (w) w(l.trim());
  else early.push(l.trim());
});
lines.on('close', () => process.exit(0));
const nextLine = () => (early.length ? Promise.resolve(early.shift()) : new Promise((r) => waiting.push(r)));

function cpuMs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function open(url, deflate) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      perMessageDeflate: deflate ? { threshold: 0 } : false,
      maxPayload: 16 * 1024 * 1024,
      handshakeTimeout: 30_000,
    });
    ws.binaryType = 'nodebuffer';
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Payloads: JSON text of exactly `size` bytes with an id and word-like filler (compresses about 3:1), or random binary. */
/** Payloads as Socket.IO sends an event with an ack: 42<ack id>["update",{...}] of exactly `size` bytes (the echo server acks each). */
function socketIoPayloads(size, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    let s = `42${i}["update",{"id":${i + 1},"data":"`;
    while (s.length < size - 3) s += 'price volume bid ask ';
    out.push(Buffer.from(`${s.slice(0, size - 3)}"}]`, 'utf8'));
  }
  return out;
}

function payloads(size, binary, n) {
  const out = [];
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const words = [
    'alpha',
    'bravo',
    'charlie',
    'delta',
    'echo',
    'foxtrot',
    'golf',
    'hotel',
    'india',
    'juliet',
    'kilo',
    'lima',
    'mike',
    'price',
    'volume',
    'bid',
    'ask',
    '1024',
    '3.1415',
    'true',
  ];
  for (let i = 0; i < n; i++) {
    if (binary) {
      const b = Buffer.allocUnsafe(size);
      for (let j = 0; j < size; j++) b[j] = (rnd() * 256) | 0;
      out.push(b);
      continue;
    }
    let s = `{"id":${i + 1},"type":"update","data":"`;
    while (s.length < size - 2) s += `${words[(rnd() * words.length) | 0]} `;
    s = `${s.slice(0, size - 2)}"}`;
    out.push(Buffer.from(s, 'utf8'));
  }
  return out;
}

async function openAll(n, concurrency, deflate) {
  const sockets = [];
  let failed = 0;
  let next = 0;
  const errors = new Map();
  async function worker() {
    while (next < n) {
      next++;
      try {
        sockets.push(await open(spec.url, deflate));
      } catch (err) {
        failed++;
        const k = String(err.code ?? err.message);
        errors.set(k, (errors.get(k) ?? 0) + 1);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return { sockets, failed, errors: Object.fromEntries(errors) };
}

async function pingpong() {
  const [ws] = (await openAll(1, 1, spec.deflate)).sockets;
  if (!ws) throw new Error('could not connect');
  const msg = Buffer.alloc(spec.size ?? 32, 'x');
  const rtt = new Float64Array(spec.roundTrips);
  let i = 0;
  let measuring = false;
  let target = 0;
  let done;
  let sentAt = 0;
  ws.on('message', () => {
    const t = performance.now();
    if (measuring) rtt[i] = t - sentAt;
    i++;
    if (i < target) {
      sentAt = performance.now();
      ws.send(msg, { binary: false });
    } else done();
  });
  const run = (n) =>
    new Promise((resolve) => {
      i = 0;
      target = n;
      done = resolve;
      sentAt = performance.now();
      ws.send(msg, { binary: false });
    });
  await run(spec.warmup ?? 1000);
  emit({ event: 'ready' });
  await nextLine();
  measuring = true;
  const cpu0 = cpuMs();
  const t0 = performance.now();
  await run(spec.roundTrips);
  const elapsedMs = performance.now() - t0;
  const sorted = Array.from(rtt).sort((a, b) => a - b);
  const q = (p) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] * 1000;
  emit({
    event: 'done',
    roundTrips: spec.roundTrips,
    bytes: spec.roundTrips * msg.length,
    elapsedMs,
    loadgenCpuMs: cpuMs() - cpu0,
    p50us: q(0.5),
    p99us: q(0.99),
    meanUs: (sorted.reduce((a, b) => a + b, 0) / sorted.length) * 1000,
  });
  ws.close();
}

async function throughput() {
  const { sockets, failed, errors } = await openAll(spec.connections, 50, spec.deflate);
  if (failed) throw new Error(`${failed} connections failed: ${JSON.stringify(errors)}`);
  const pool = spec.socketio ? socketIoPayloads(spec.size, 512) : payloads(spec.size, spec.binary, spec.binary ? 8 : 512);
  // spec.rate: round trips per second offered, spread over the connections (each with at most
  // spec.inFlight outstanding). Without it, each echo sends the next message at once.
  const paced = spec.rate > 0;
  const conns = sockets.map((ws) => ({ ws, outstanding: 0 }));
  let running = false;
  let outstanding = 0;
  let roundTrips = 0;
  let bytes = 0;
  let k = 0;
  let drained;
  const send = (c) => {
    outstanding++;
    c.outstanding++;
    c.ws.send(pool[k++ % pool.length], { binary: spec.binary });
  };
  for (const c of conns) {
    c.ws.on('message', (data) => {
      outstanding--;
      c.outstanding--;
      roundTrips++;
      bytes += data.length;
      if (running && !paced) send(c);
      else if (!running && outstanding === 0 && drained) drained();
    });
    c.ws.on('close', () => fail(new Error('a connection closed during the load')));
  }
  let budget = 0;
  let next = 0;
  let last = 0;
  const tick = () => {
    const now = performance.now();
    // At most 20 ms of sends owed at once: a stall is not made up for with a burst.
    budget = Math.min(budget + ((now - last) * spec.rate) / 1000, spec.rate / 50);
    last = now;
    let blocked = 0;
    while (budget >= 1 && blocked < conns.length) {
      const c = conns[next];
      next = (next + 1) % conns.length;
      if (c.outstanding >= spec.inFlight) {
        blocked++;
        continue;
      }
      blocked = 0;
      budget--;
      send(c);
    }
  };
  const phase = async (ms) => {
    roundTrips = 0;
    bytes = 0;
    running = true;
    const t0 = performance.now();
    let timer;
    if (paced) {
      last = t0;
      budget = 1;
      timer = setInterval(tick, 1);
      tick();
    } else for (const c of conns) for (let j = 0; j < spec.inFlight; j++) send(c);
    await new Promise((r) => setTimeout(r, ms));
    running = false;
    if (timer) clearInterval(timer);
    if (outstanding > 0) await new Promise((r) => (drained = r));
    drained = undefined;
    return performance.now() - t0;
  };
  await phase(spec.warmupMs ?? 1000);
  emit({ event: 'ready' });
  await nextLine();
  const cpu0 = cpuMs();
  const elapsedMs = await phase(spec.durationMs);
  const achieved = roundTrips / (elapsedMs / 1000);
  emit({
    event: 'done',
    roundTrips,
    bytes,
    elapsedMs,
    loadgenCpuMs: cpuMs() - cpu0,
    ...(paced ? { offered: spec.rate, saturated: achieved < 0.95 * spec.rate } : {}),
  });
  for (const c of conns) {
    c.ws.removeAllListeners('close');
    c.ws.terminate();
  }
}

async function idle() {
  const t0 = performance.now();
  const { sockets, failed, errors } = await openAll(spec.connections, spec.concurrency ?? 100, false);
  const openMs = performance.now() - t0;
  let closedEarly = 0;
  let closing = false;
  for (const ws of sockets) {
    ws.on('close', () => {
      if (!closing) closedEarly++;
    });
    ws.on('error', () => {});
  }
  emit({ event: 'opened', opened: sockets.length, failed, errors, openMs });
  await nextLine();
  const stillOpen = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;
  closing = true;
  const t1 = performance.now();
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          const timer = setTimeout(() => ws.terminate(), 10_000);
          ws.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          ws.close(1000);
        }),
    ),
  );
  emit({ event: 'closed', stillOpen, closedEarly, closeMs: performance.now() - t1 });
}

const modes = { pingpong, throughput, idle };
await modes[spec.mode]();
process.exit(0);
