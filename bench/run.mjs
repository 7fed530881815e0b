#!/usr/bin/env node
// wstap's benchmark: the proxy against a bare Node TCP pipe (and nginx when installed), all
// measured in the same run, interleaved and repeated; medians reported.
//
//   npm run bench                 full run (under 10 minutes)
//   npm run bench -- --quick      about a minute
//   npm run bench -- --compare F  and this run against an earlier one's JSON (e.g. a copy of bench/results/latest.json)
//   node bench/run.mjs --help     options
//
// Every process is separate: the ws echo backend, each proxy, and a load generator per
// measurement. Proxies run on core 0, the backend and the load generator on core 1
// (taskset, where it exists). The load generator caps messages per second on a 2-core
// machine, so the figure that matters is the proxy's own CPU time (utime + stime from
// /proc/<pid>/stat) per message and per MB, as a ratio to the TCP pipe of the same run.
// Each ratio is shown with its range over the repetitions; a load scenario whose ratios spread
// over 15% of their median is repeated (--max-extra-reps), and what stays that wide is called noisy.
// Results: a markdown table on stdout, JSON in bench/results/ (ignored by git).
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CHANGE_LIMIT, compareResults, cpuField, median, noisyTargets, pairedQuotients, SPREAD_LIMIT, spreadOf, summarise } from './compare.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BENCH = path.join(ROOT, 'bench');

// --- options ---------------------------------------------------------------------------------

const HELP = `usage: node bench/run.mjs [--quick] [--only a,b] [--targets a,b] [--reps N] [--max-extra-reps N] [--compare FILE] [--out DIR] [--no-pin] [--no-nginx]
  --quick        about a minute: shorter loads, 200 idle connections, one repetition
  --only         scenarios: ping-pong, small, bulk, compressed, idle, view, socketio (default: all)
  --targets      direct, pipe, wstap, wstap-no-ui, wstap-no-metrics, wstap-no-analysis, wstap-rules, wstap-reframed, wstap-no-app,
                 wstap-record, wstap-debug, nginx (default: all of these),
                 wstap-env (wstap with MALLOC_TRIM_THRESHOLD_=64 MiB, the environment the image set until
                 wstap applied it itself; only when named)
  --reps N       repetitions of each load scenario (default 3; quick 1)
  --max-extra-reps N
                 after those, repeat a load scenario's whole rotation up to N more times while
                 a target's CPU ratio to the pipe spreads over more than 15% of its median
                 (default 3; quick 0; 0 turns it off)
  --compare FILE an earlier run's JSON (e.g. a copy of bench/results/latest.json): a table of
                 each CPU ratio then and now, with their ranges, the change and a verdict
                 (same, slower, faster, noisy), for the scenarios both runs have
  --idle N,N     idle connection counts (default 500,2000,9500; quick 200)
  --out DIR      where the JSON goes (default bench/results)
  --no-pin       do not pin processes to cores
  --no-nginx     leave nginx out even when installed`;

function parseArgs(argv) {
  const o = {
    quick: false,
    only: undefined,
    targets: undefined,
    reps: undefined,
    maxExtraReps: undefined,
    compare: undefined,
    out: path.join(BENCH, 'results'),
    pin: true,
    nginx: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--only') o.only = value().split(',');
    else if (a === '--targets') o.targets = value().split(',');
    else if (a === '--reps') o.reps = Number(value());
    else if (a === '--max-extra-reps') o.maxExtraReps = Number(value());
    else if (a === '--compare') o.compare = path.resolve(value());
    else if (a === '--idle') o.idle = value().split(',').map(Number);
    else if (a === '--out') o.out = path.resolve(value());
    else if (a === '--no-pin') o.pin = false;
    else if (a === '--no-nginx') o.nginx = false;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${HELP}\n`);
      process.exit(0);
    } else throw new Error(`unknown option ${a}\n${HELP}`);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const SCENARIOS = ['ping-pong', 'small', 'bulk', 'compressed', 'idle', 'view', 'socketio'];
const TARGETS = [
  'direct',
  'pipe',
  'wstap',
  'wstap-no-ui',
  'wstap-no-metrics',
  'wstap-no-analysis',
  'wstap-rules',
  'wstap-reframed',
  'wstap-no-app',
  'wstap-env',
  'wstap-record',
  'wstap-debug',
  'nginx',
];
/** Run unless --targets names others; wstap-env only when asked for. */
const DEFAULT_TARGETS = TARGETS.filter((t) => t !== 'wstap-env');
for (const s of opts.only ?? []) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s} (${SCENARIOS.join(', ')})`);
for (const t of opts.targets ?? []) if (!TARGETS.includes(t)) throw new Error(`unknown target ${t} (${TARGETS.join(', ')})`);
const wantScenario = (s) => !opts.only || opts.only.includes(s);
const wantTarget = (t) => (opts.targets ?? DEFAULT_TARGETS).includes(t);

const FULL = {
  reps: 3,
  pingPong: { roundTrips: 20_000, warmup: 2_000, size: 32 },
  small: { connections: 50, inFlight: 32, size: 1024, binary: false, durationMs: 5_000, warmupMs: 1_000 },
  bulk: { connections: 4, inFlight: 8, size: 64 * 1024, binary: true, durationMs: 5_000, warmupMs: 1_000 },
  compressed: { connections: 50, inFlight: 32, size: 1024, binary: false, durationMs: 5_000, warmupMs: 1_000, deflate: true },
  idle: [500, 2_000, 9_500],
  // The live view with a page following one session: 10,000 round trips a second = 20,000 messages.
  view: { connections: 1, inFlight: 64, size: 256, binary: false, rate: 10_000, durationMs: 5_000, warmupMs: 1_000 },
  // Socket.IO events with acks on /socket.io/ (decoded by engine.io-parser and socket.io-parser, each ack paired and timed).
  socketio: { connections: 50, inFlight: 32, size: 1024, binary: false, durationMs: 5_000, warmupMs: 1_000, socketio: true },
};
const QUICK = {
  reps: 1,
  pingPong: { roundTrips: 2_000, warmup: 500, size: 32 },
  small: { connections: 50, inFlight: 32, size: 1024, binary: false, durationMs: 1_000, warmupMs: 300 },
  socketio: { connections: 50, inFlight: 32, size: 1024, binary: false, durationMs: 1_000, warmupMs: 300, socketio: true },
  bulk: { connections: 4, inFlight: 8, size: 64 * 1024, binary: true, durationMs: 1_000, warmupMs: 300 },
  compressed: { connections: 50, inFlight: 32, size: 1024, binary: false, durationMs: 1_000, warmupMs: 300, deflate: true },
  idle: [200],
  view: { connections: 1, inFlight: 64, size: 256, binary: false, rate: 10_000, durationMs: 2_000, warmupMs: 500 },
};
const cfg = { ...(opts.quick ? QUICK : FULL) };
if (opts.idle) {
  if (opts.idle.some((n) => !Number.isInteger(n) || n < 1 || n > 9_500))
    throw new Error('--idle: counts from 1 to 9500 (the open-file limit is 20,000 and a proxy holds two per connection)');
  cfg.idle = opts.idle;
}
const REPS = opts.reps ?? cfg.reps;
if (!Number.isInteger(REPS) || REPS < 1) throw new Error('--reps: a whole number from 1');
/** Extra repetitions of a load scenario whose ratios spread too wide; none in a quick run unless asked for. */
const MAX_EXTRA_REPS = opts.maxExtraReps ?? (opts.quick ? 0 : 3);
if (!Number.isInteger(MAX_EXTRA_REPS) || MAX_EXTRA_REPS < 0) throw new Error('--max-extra-reps: a whole number from 0');

/** The earlier run to compare with, read before anything is measured (a wrong path fails now, not in ten minutes). */
const BEFORE = (() => {
  if (!opts.compare) return undefined;
  let before;
  try {
    before = JSON.parse(readFileSync(opts.compare, 'utf8'));
  } catch (e) {
    throw new Error(`--compare ${opts.compare}: ${e.message}`);
  }
  if (!before || typeof before.scenarios !== 'object') throw new Error(`--compare ${opts.compare}: not a result of bench/run.mjs (no scenarios)`);
  return before;
})();

// --- processes ---------------------------------------------------------------------------------

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();
const HAVE_TASKSET = opts.pin && os.cpus().length >= 2 && hasCommand('taskset');
const PROXY_CORE = '0';
const LOAD_CORE = '1';

function hasCommand(cmd) {
  try {
    execFileSync('bash', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** utime + stime of a process (all its threads), in ms. */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

/** Minor page faults of a process so far (memory the kernel had to map in: a proxy that keeps its memory has few). */
function minorFaults(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
}

/** CPU time the whole machine spent busy (steal included: time another guest took), in ms. */
function machineBusyMs() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return ((f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) * 1000) / CLK_TCK;
}

/** Resident memory of a process, in KiB. */
function rssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

const children = new Set();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

/**
 * A child process with its open-file limit raised and pinned to `core`. The shell execs the
 * command, so the child's pid is the program's own. stdout is read as JSON lines unless
 * `quiet` sends it to /dev/null.
 */
function start(name, argv, { core, quiet = false, cwd = ROOT, inspect = false, env = {} } = {}) {
  const pin = HAVE_TASKSET && core !== undefined ? ['taskset', '-c', core] : [];
  const proc = spawn('bash', ['-c', 'ulimit -n 20000 2>/dev/null || ulimit -n $(ulimit -Hn); exec "$@"', name, ...pin, ...argv], {
    cwd,
    stdio: ['pipe', quiet ? 'ignore' : 'pipe', inspect ? 'pipe' : 'inherit'],
    env: { ...process.env, NODE_ENV: 'production', ...env },
  });
  children.add(proc);
  const child = { name, proc, pid: proc.pid, events: [], errorLines: 0, warnLines: 0, lines: 0 };
  const waiters = [];
  child.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  if (inspect) {
    // The inspector's address, for a forced garbage collection before memory is read.
    child.inspector = new Promise((resolve) => {
      createInterface({ input: proc.stderr }).on('line', (line) => {
        const m = /Debugger listening on (ws:\/\/\S+)/.exec(line);
        if (m) resolve(m[1]);
        else if (!/^For help, see|^Debugger (attached|ending)|^Waiting for the debugger/.test(line)) process.stderr.write(`${line}\n`);
      });
    });
  }
  proc.on('exit', () => {
    children.delete(proc);
    for (const w of waiters.splice(0)) w.reject(new Error(`${name} exited while waiting for ${w.what}`));
  });
  if (!quiet) {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      child.lines++;
      let obj;
      try {
        obj = JSON.parse(line);
      } catch {
        return;
      }
      if (typeof obj.level === 'number') {
        if (obj.level >= 50) child.errorLines++;
        else if (obj.level >= 40) child.warnLines++;
        // wstap's own lines are counted, only its startup line is kept
        if (obj.event !== 'listening') return;
      }
      child.events.push(obj);
      for (let i = 0; i < waiters.length; i++) {
        if (waiters[i].pred(obj)) {
          const [w] = waiters.splice(i, 1);
          w.resolve(obj);
          break;
        }
      }
    });
  }
  child.waitFor = (pred, what, timeoutMs = 60_000) =>
    new Promise((resolve, reject) => {
      const seen = child.events.find(pred);
      if (seen) {
        child.events.splice(child.events.indexOf(seen), 1);
        return resolve(seen);
      }
      const timer = setTimeout(() => reject(new Error(`${name}: no ${what} within ${timeoutMs} ms`)), timeoutMs);
      waiters.push({
        pred,
        what,
        resolve: (v) => {
          clearTimeout(timer);
          child.events.splice(child.events.indexOf(v), 1);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    }).then((v) => {
      if (v.event === 'error') throw new Error(`${name}: ${v.error}`);
      return v;
    });
  child.send = (line) => proc.stdin.write(`${line}\n`);
  child.stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await child.exited;
    clearTimeout(t);
  };
  return child;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, child, timeoutMs = 15_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = net.connect({ host: '127.0.0.1', port });
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (child && child.proc.exitCode !== null) throw new Error(`${child.name} exited (code ${child.proc.exitCode})`);
    if (Date.now() > until) throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tail(file, lines) {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines);
  } catch {
    return [];
  }
}

// --- targets -----------------------------------------------------------------------------------

const NGINX = opts.nginx && hasCommand('nginx') ? execFileSync('bash', ['-c', 'nginx -v 2>&1'], { encoding: 'utf8' }).trim() : undefined;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'wstap-bench-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function nginxConf(dir, listenPort, backendPort) {
  return `worker_processes 1;
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 40000; multi_accept on; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:${listenPort} backlog=4096;
    location / {
      proxy_pass http://127.0.0.1:${backendPort};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
      proxy_buffering off;
    }
  }
}
`;
}

/**
 * wstap runs as users run it: `node bin/wstap.js` with nothing set in its environment (no
 * MALLOC_ tunable; wstap raises glibc's trim threshold itself, src/proxy/heap-trim.ts). The
 * target wstap-env runs it with the setting the Docker image used to carry, for comparison.
 */
const WSTAP_ENV = {};
const GLIBC_ENV = { MALLOC_TRIM_THRESHOLD_: '67108864' };

/** A wstap process in front of backend port bp; quiet ones are found by their port, the rest by their listening line. */
async function startWstap(name, bp, extra, { inspect = false, quiet = false, env = WSTAP_ENV } = {}) {
  const port = quiet ? await freePort() : 0;
  const child = start(
    name,
    [
      'node',
      ...inspectArgs(inspect),
      ...WSTAP_NODE_ARGS,
      'bin/wstap.js',
      '--target',
      `http://127.0.0.1:${bp}`,
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--log-format',
      'json',
      ...extra,
    ],
    { core: PROXY_CORE, inspect, quiet, env },
  );
  if (quiet) {
    await waitForPort(port, child);
    return { port, child };
  }
  const ev = await child.waitFor((e) => e.event === 'listening', 'listening line');
  return { port: ev.addresses[0].port, child };
}

/** What each target row is, and how to start it in front of a backend port. */
const TARGET_DEFS = {
  direct: { label: 'direct (no proxy)', start: async (bp) => ({ port: bp }) },
  pipe: {
    label: 'bare Node TCP pipe',
    async start(bp, { inspect = false } = {}) {
      const child = start('pipe', ['node', ...inspectArgs(inspect), path.join(BENCH, 'tcp-pipe.mjs'), String(bp)], { core: PROXY_CORE, inspect });
      const ev = await child.waitFor((e) => e.event === 'listening', 'listening line');
      return { port: ev.port, child };
    },
  },
  wstap: {
    label: 'wstap (default logging)',
    start: (bp, o) => startWstap('wstap', bp, [], o),
  },
  'wstap-no-ui': {
    label: 'wstap --no-ui (no live view history)',
    start: (bp, o) => startWstap('wstap-no-ui', bp, ['--no-ui'], o),
  },
  // Issue 15: the metrics (on by default) against off.
  'wstap-no-metrics': {
    label: 'wstap --no-metrics',
    only: ['small'],
    start: (bp, o) => startWstap('wstap-no-metrics', bp, ['--no-metrics'], o),
  },
  'wstap-no-analysis': {
    label: 'wstap --no-metrics --no-patterns',
    only: ['small'],
    start: (bp, o) => startWstap('wstap-no-analysis', bp, ['--no-metrics', '--no-patterns'], o),
  },
  // Issue 14: fault rules present that take no session (every session stays byte-faithful), and
  // a rule that takes every session and never fires (every session re-framed by wstap).
  'wstap-rules': {
    label: 'wstap, a fault rule that takes no session',
    only: ['small', 'compressed'],
    start: (bp, o) => startWstap('wstap-rules', bp, ['--fault', 'drop path=/not-this-path'], o),
  },
  'wstap-reframed': {
    label: 'wstap, every session re-framed (a rule that never fires)',
    only: ['small', 'compressed'],
    start: (bp, o) => startWstap('wstap-reframed', bp, ['--fault', 'drop match=^never-in-these-messages$'], o),
  },
  // Issue 16: Socket.IO traffic decoded (the default) against --protocol none (the frame tap alone).
  'wstap-no-app': {
    label: 'wstap --protocol none (no application protocol decoding)',
    only: ['socketio'],
    start: (bp, o) => startWstap('wstap-no-app', bp, ['--protocol', 'none'], o),
  },
  'wstap-env': {
    label: 'wstap with MALLOC_TRIM_THRESHOLD_=64 MiB (the former image setting)',
    start: (bp, o) => startWstap('wstap-env', bp, [], { ...o, env: GLIBC_ENV }),
  },
  'wstap-record': {
    label: 'wstap --record FILE',
    start: (bp, o) => startWstap('wstap-record', bp, ['--record', path.join(mkdtempSync(path.join(tmp, 'record-')), 'bench.jsonl')], o),
  },
  'wstap-debug': {
    label: 'wstap debug → /dev/null',
    start: (bp, o) => startWstap('wstap-debug', bp, ['--log-level', 'debug'], { ...o, quiet: true }),
  },
  nginx: {
    label: NGINX ? `nginx (${NGINX.replace(/^nginx version: /, '')})` : 'nginx',
    missing: NGINX ? undefined : opts.nginx ? 'not installed (apt-get install nginx)' : 'left out (--no-nginx)',
    async start(bp) {
      const port = await freePort();
      const dir = mkdtempSync(path.join(tmp, 'nginx-'));
      writeFileSync(path.join(dir, 'nginx.conf'), nginxConf(dir, port, bp));
      const child = start('nginx', ['nginx', '-p', dir, '-c', path.join(dir, 'nginx.conf')], { core: PROXY_CORE, quiet: true });
      child.errorLog = path.join(dir, 'error.log');
      await waitForPort(port, child);
      return { port, child };
    },
  },
};
const targetNames = TARGETS.filter(wantTarget);
const TARGET_NAMES = targetNames;
const inspectArgs = (inspect) => (inspect ? ['--inspect=127.0.0.1:0'] : []);

/**
 * A full garbage collection in a Node target, through its inspector (HeapProfiler.collectGarbage),
 * so resident memory is compared after collection in every process, not at a moment chosen by each
 * one's garbage collector.
 */
async function collectGarbage(child) {
  if (!child?.inspector) return;
  const url = await Promise.race([child.inspector, sleep(5_000).then(() => undefined)]);
  if (!url) throw new Error(`${child.name}: no inspector address`);
  const { default: WebSocket } = await import('ws');
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  for (let id = 1; id <= 2; id++) {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${child.name}: garbage collection timed out`)), 30_000);
      ws.on('message', function onMessage(data) {
        if (JSON.parse(String(data)).id !== id) return;
        ws.off('message', onMessage);
        clearTimeout(timer);
        resolve();
      });
      ws.send(JSON.stringify({ id, method: 'HeapProfiler.collectGarbage' }));
    });
  }
  ws.close();
  await sleep(200);
}
/** Extra node flags for the wstap processes, e.g. BENCH_WSTAP_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const WSTAP_NODE_ARGS = (process.env.BENCH_WSTAP_NODE_ARGS ?? '').split(' ').filter(Boolean);
const runnable = targetNames.filter((t) => !TARGET_DEFS[t].missing);

// --- measurements ------------------------------------------------------------------------------

function loadgen(spec) {
  return start('loadgen', ['node', path.join(BENCH, 'loadgen.mjs'), JSON.stringify(spec)], { core: LOAD_CORE });
}

/**
 * One load on one target: warm up, then the measured phase with the proxy's CPU read around it.
 * `around`: something to start once the load is warmed up and to report after it (a page on the live view).
 */
async function measureLoad(target, spec, around) {
  const lg = loadgen({ ...spec, url: `ws://127.0.0.1:${target.port}${spec.socketio ? '/socket.io/?EIO=4&transport=websocket' : '/bench'}` });
  try {
    await lg.waitFor((e) => e.event === 'ready' || e.event === 'error', 'ready', 60_000);
    if (around) await around.ready();
    const pid = target.child?.pid;
    const c0 = pid ? cpuMs(pid) : undefined;
    const f0 = pid ? minorFaults(pid) : undefined;
    const b0 = cpuMs(backend.child.pid);
    const l0 = cpuMs(lg.pid);
    const m0 = machineBusyMs();
    const o0 = process.cpuUsage();
    const w0 = performance.now();
    lg.send('go');
    const done = await lg.waitFor((e) => e.event === 'done' || e.event === 'error', 'results', 120_000);
    const proxyCpuMs = pid ? cpuMs(pid) - c0 : undefined;
    const proxyMinorFaults = pid ? minorFaults(pid) - f0 : undefined;
    const backendCpuMs = cpuMs(backend.child.pid) - b0;
    const loadgenCpuMs = cpuMs(lg.pid) - l0;
    const o1 = process.cpuUsage(o0);
    // Everything else the machine did meanwhile (other processes, other guests): the noise of this measurement.
    const otherMs = machineBusyMs() - m0 - (proxyCpuMs ?? 0) - backendCpuMs - loadgenCpuMs - (o1.user + o1.system) / 1000;
    const backgroundPct = Math.max(0, (100 * otherMs) / ((performance.now() - w0) * os.cpus().length));
    const messages = done.roundTrips * 2;
    const page = around ? await around.done() : undefined;
    const mb = (done.bytes * 2) / 1e6;
    return {
      ...done,
      event: undefined,
      proxyCpuMs,
      proxyMinorFaults,
      backendCpuMs,
      backgroundPct,
      roundTripsPerSec: done.roundTrips / (done.elapsedMs / 1000),
      mbPerSec: mb / (done.elapsedMs / 1000),
      cpuUsPerMsg: proxyCpuMs === undefined ? undefined : (proxyCpuMs * 1000) / messages,
      cpuMsPerMB: proxyCpuMs === undefined ? undefined : proxyCpuMs / mb,
      ...(page ? { page } : {}),
    };
  } finally {
    await around?.stop();
    await lg.stop();
  }
}

/**
 * A Chromium page (bench/view-page.mjs, not pinned: the browser's own processes spread over the
 * cores) that follows the newest open session on the target's live view; it reports the longest
 * task on its main thread during the measured phase (Long Tasks API) and the last message it shows.
 */
function pageOn(target) {
  let child;
  return {
    async ready() {
      child = start('view-page', ['node', path.join(BENCH, 'view-page.mjs'), `http://127.0.0.1:${target.port}/__wstap/`], {});
      await child.waitFor((e) => e.event === 'ready', 'the browser', 60_000);
      child.send('follow');
      await child.waitFor((e) => e.event === 'following', 'the page to follow the session', 60_000);
      child.send('mark');
      await child.waitFor((e) => e.event === 'marked', 'the page to start counting', 10_000);
    },
    async done() {
      child.send('report');
      const { event: _e, ...r } = await child.waitFor((e) => e.event === 'report', 'the page report', 30_000);
      return r;
    },
    async stop() {
      await child?.stop();
    },
  };
}

/** Idle connections on a freshly started target: time to open them, resident memory each, held without an error. */
async function measureIdle(name, count) {
  const target = await TARGET_DEFS[name].start(backend.port, { inspect: true });
  try {
    await sleep(500);
    const pid = target.child?.pid;
    await collectGarbage(target.child);
    const rss0 = pid ? rssKb(pid) : undefined;
    const errors0 = target.child?.errorLines ?? 0;
    const lg = loadgen({ mode: 'idle', url: `ws://127.0.0.1:${target.port}/bench`, connections: count, concurrency: 100 });
    try {
      const opened = await lg.waitFor((e) => e.event === 'opened' || e.event === 'error', 'opened', 120_000);
      await sleep(opts.quick ? 500 : 1_500);
      await collectGarbage(target.child);
      const rss1 = pid ? rssKb(pid) : undefined;
      lg.send('close');
      const closed = await lg.waitFor((e) => e.event === 'closed' || e.event === 'error', 'closed', 60_000);
      const alive = !target.child || target.child.proc.exitCode === null;
      const errorLines = target.child ? target.child.errorLines - errors0 : 0;
      return {
        count,
        opened: opened.opened,
        failed: opened.failed,
        connectErrors: opened.errors,
        openMs: opened.openMs,
        stillOpen: closed.stillOpen,
        closedEarly: closed.closedEarly,
        proxyAlive: alive,
        proxyErrorLines: errorLines,
        rssBeforeKb: rss0,
        rssAfterKb: rss1,
        rssPerConnKb: pid ? (rss1 - rss0) / Math.max(1, opened.opened) : undefined,
        held: opened.opened === count && opened.failed === 0 && closed.stillOpen === count && closed.closedEarly === 0 && alive && errorLines === 0,
        ...(target.child?.errorLog && opened.failed ? { errorLogTail: tail(target.child.errorLog, 5) } : {}),
      };
    } finally {
      await lg.stop();
    }
  } finally {
    await target.child?.stop();
  }
}

// --- statistics --------------------------------------------------------------------------------

// median, summarise (per-repetition ratios to the pipe, their range and spread) and the
// comparison with an earlier run: bench/compare.mjs.

// --- the run -----------------------------------------------------------------------------------

let backend;
async function startBackend(deflate) {
  const child = start('backend', ['node', path.join(BENCH, 'echo-server.mjs'), ...(deflate ? ['--deflate'] : [])], { core: LOAD_CORE });
  const ev = await child.waitFor((e) => e.event === 'listening', 'listening line');
  return { child, port: ev.port, deflate };
}

async function startTargets(scenarios) {
  const live = {};
  for (const name of runnable) {
    const only = TARGET_DEFS[name].only;
    if (only && !only.some((s) => scenarios.includes(s) && wantScenario(s))) continue;
    live[name] = await TARGET_DEFS[name].start(backend.port);
  }
  return live;
}

async function stopTargets(live) {
  for (const t of Object.values(live)) await t.child?.stop();
}

/**
 * Runs a load scenario: for each repetition, every target once, in a rotated order. Then, while
 * some target's CPU ratio to the pipe spreads over more than SPREAD_LIMIT of its median, the
 * whole rotation again (every target, so each ratio stays paired with a pipe measured at the
 * same moment), up to MAX_EXTRA_REPS times. result.repetitions[title] says what it took.
 */
async function loadScenario(live, spec, title, among) {
  // Some targets are measured only in some scenarios (TARGET_DEFS[name].only); some scenarios only among some targets.
  const names = runnable.filter((n) => (!TARGET_DEFS[n].only || TARGET_DEFS[n].only.includes(title)) && (!among || among.includes(n)) && live[n]);
  const runs = Object.fromEntries(names.map((n) => [n, []]));
  const rotation = async (rep, which) => {
    const order = names.map((_, i) => names[(i + rep) % names.length]);
    for (const name of order) {
      const r = await measureLoad(live[name], spec);
      runs[name][rep] = r;
      log(`  ${title} rep ${which} ${name}: ${brief(r)}`);
    }
  };
  for (let rep = 0; rep < REPS; rep++) await rotation(rep, `${rep + 1}/${REPS}`);
  const field = cpuField(title);
  let extra = 0;
  for (let noisy = noisyTargets(summarise(runs, field)); noisy.length && extra < MAX_EXTRA_REPS; noisy = noisyTargets(summarise(runs, field))) {
    extra++;
    log(`  ${title}: ${noisy.join(', ')} spread over ${SPREAD_LIMIT * 100}%, extra repetition ${extra}/${MAX_EXTRA_REPS}`);
    await rotation(REPS + extra - 1, `${REPS + extra} (extra ${extra}/${MAX_EXTRA_REPS})`);
  }
  result.repetitions[title] = repetitionsOf(runs, field, extra);
  return runs;
}

/** How many repetitions a scenario got, how many of them extra, and the targets whose ratio still spreads too wide. */
function repetitionsOf(runs, field, extra) {
  const summary = summarise(runs, field);
  return {
    reps: Math.max(0, ...Object.values(runs).map((r) => r.length)),
    extra,
    noisy: noisyTargets(summary).map((target) => ({ target, min: summary[target].min, max: summary[target].max, spread: summary[target].spread })),
  };
}

function brief(r) {
  const parts = [];
  if (r.p50us !== undefined) parts.push(`p50 ${r.p50us.toFixed(1)} µs p99 ${r.p99us.toFixed(1)} µs`);
  parts.push(`${Math.round(r.roundTripsPerSec)} rt/s`);
  if (r.cpuUsPerMsg !== undefined) parts.push(`${r.cpuUsPerMsg.toFixed(2)} µs/msg ${r.cpuMsPerMB.toFixed(2)} ms/MB`);
  return parts.join(', ');
}

function log(line) {
  process.stderr.write(`${line}\n`);
}

function gitInfo() {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bench'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return `${commit}${dirty ? '+changes' : ''}`;
  } catch {
    return 'unknown';
  }
}

function hasBufferutil() {
  try {
    execFileSync('node', ['-e', "require('bufferutil')"], { cwd: ROOT, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const startedAt = new Date();
const result = {
  startedAt: startedAt.toISOString(),
  mode: opts.quick ? 'quick' : 'full',
  reps: REPS,
  machine: {
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    loadavgAtStart: os.loadavg(),
    pinned: HAVE_TASKSET ? { proxy: PROXY_CORE, loadgenAndBackend: LOAD_CORE } : false,
    bufferutil: hasBufferutil(),
    nginx: NGINX ?? null,
    clockTicks: CLK_TCK,
  },
  commit: gitInfo(),
  config: cfg,
  targets: Object.fromEntries(
    targetNames.map((n) => [n, { label: TARGET_DEFS[n].label, ...(TARGET_DEFS[n].missing ? { missing: TARGET_DEFS[n].missing } : {}) }]),
  ),
  scenarios: {},
  /** Per load scenario: repetitions run, how many extra (a spread too wide), targets still noisy. */
  repetitions: {},
};

if (!existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run npm run build first (npm run bench does)');
log(
  `wstap bench (${result.mode}, ${REPS} rep${REPS > 1 ? 's' : ''}; ${HAVE_TASKSET ? 'proxies on core 0, load generator and backend on core 1' : 'not pinned'}; bufferutil ${result.machine.bufferutil ? 'on' : 'off'}; ${NGINX ?? 'no nginx'})`,
);

const t0 = Date.now();
if (['ping-pong', 'small', 'bulk', 'idle'].some(wantScenario)) {
  backend = await startBackend(false);
  if (['ping-pong', 'small', 'bulk'].some(wantScenario)) {
    const live = await startTargets(['ping-pong', 'small', 'bulk']);
    try {
      if (wantScenario('ping-pong')) result.scenarios['ping-pong'] = await loadScenario(live, { mode: 'pingpong', ...cfg.pingPong }, 'ping-pong');
      if (wantScenario('small')) result.scenarios.small = await loadScenario(live, { mode: 'throughput', ...cfg.small }, 'small');
      if (wantScenario('bulk')) result.scenarios.bulk = await loadScenario(live, { mode: 'throughput', ...cfg.bulk }, 'bulk');
    } finally {
      await stopTargets(live);
    }
  }
  if (wantScenario('idle')) {
    // Each repetition starts every target afresh, in a rotated order, so each ratio pairs a
    // target with a pipe measured next to it.
    for (const count of cfg.idle) {
      const names = runnable.filter((n) => !idleSkipped(n, count));
      const runs = Object.fromEntries(names.map((n) => [n, []]));
      for (let rep = 0; rep < REPS; rep++) {
        for (const name of names.map((_, i) => names[(i + rep) % names.length])) {
          const r = await measureIdle(name, count);
          runs[name][rep] = r;
          log(
            `  idle ${count} rep ${rep + 1}/${REPS} ${name}: opened ${r.opened}/${count} in ${Math.round(r.openMs)} ms${r.rssPerConnKb !== undefined ? `, ${r.rssPerConnKb.toFixed(1)} KiB/conn` : ''}${r.held ? '' : ' NOT HELD'}`,
          );
        }
      }
      result.scenarios[`idle-${count}`] = runs;
    }
  }
  await backend.child.stop();
}
if (wantScenario('compressed')) {
  backend = await startBackend(true);
  const live = await startTargets(['compressed']);
  try {
    result.scenarios.compressed = await loadScenario(live, { mode: 'throughput', ...cfg.compressed }, 'compressed');
  } finally {
    await stopTargets(live);
    await backend.child.stop();
  }
}
if (wantScenario('socketio')) {
  // Socket.IO: the pipe, wstap decoding it, and wstap with decoding off.
  backend = await startBackend(false);
  const among = ['pipe', 'wstap', 'wstap-no-app'];
  const live = {};
  for (const n of among) if (runnable.includes(n)) live[n] = await TARGET_DEFS[n].start(backend.port);
  try {
    result.scenarios.socketio = await loadScenario(live, { mode: 'throughput', ...cfg.socketio }, 'socketio', among);
  } finally {
    await stopTargets(live);
    await backend.child.stop();
  }
}
if (wantScenario('view')) {
  // The same wstap process is measured without and then with a page following the session.
  backend = await startBackend(false);
  const names = ['pipe', 'wstap-no-ui', 'wstap'].filter((n) => runnable.includes(n));
  const live = {};
  for (const n of names) live[n] = await TARGET_DEFS[n].start(backend.port);
  const withPage = live.wstap && existsSync('/usr/bin/chromium') ? ['wstap-page'] : [];
  if (live.wstap && !withPage.length) log('  view: /usr/bin/chromium is missing, no page row (apt-get install -y chromium)');
  const all = [...names, ...withPage];
  const runs = Object.fromEntries(all.map((n) => [n, []]));
  const spec = { mode: 'throughput', ...cfg.view };
  try {
    for (let rep = 0; rep < REPS; rep++) {
      for (const name of all.map((_, i) => all[(i + rep) % all.length])) {
        const r = name === 'wstap-page' ? await measureLoad(live.wstap, spec, pageOn(live.wstap)) : await measureLoad(live[name], spec);
        runs[name][rep] = r;
        log(
          `  view rep ${rep + 1}/${REPS} ${name}: ${brief(r)}${r.page ? `, page: longest task ${Math.round(r.page.longestTaskMs)} ms, last #${r.page.lastSeq}` : ''}`,
        );
      }
    }
  } finally {
    await stopTargets(live);
    await backend.child.stop();
  }
  result.scenarios.view = runs;
  result.repetitions.view = repetitionsOf(runs, 'cpuUsPerMsg', 0);
}
result.durationS = (Date.now() - t0) / 1000;

// --- report ------------------------------------------------------------------------------------

const fmt = (v, d = 1) => (v === undefined || v === null || !Number.isFinite(v) ? '–' : v.toFixed(d));
const fmtInt = (v) => (v === undefined || !Number.isFinite(v) ? '–' : Math.round(v).toLocaleString('en-US'));
const pct = (v) => (v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(0)}%`);
const ratio = (v) => (v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(2)}×`);
/** The range of a ratio over the repetitions (summarise, spreadOf): 1.02–1.23. */
const rangeText = (st) => (st?.min === undefined ? '–' : `${st.min.toFixed(2)}–${st.max.toFixed(2)}`);
/** A ratio to the pipe, with its range when there were several repetitions: 1.09× (1.02–1.23). The pipe's own is 1 by definition. */
const ratioCell = (st, name) => (st?.n > 1 && name !== 'pipe' ? `${ratio(st.ratio)} (${rangeText(st)})` : ratio(st?.ratio));

const out = [];
const N = (n) => n.toLocaleString('en-US');
const moreReps = Object.values(result.repetitions).some((r) => r.extra > 0);
out.push(
  `## wstap benchmark, ${result.startedAt.slice(0, 16).replace('T', ' ')} UTC (${result.mode}, median of ${REPS}${moreReps ? ' or more' : ''})`,
);
out.push('');
out.push(
  `Node ${process.version}, ${result.machine.cpus} × ${result.machine.cpuModel ?? 'cpu'}, ` +
    `${HAVE_TASKSET ? 'proxy pinned to core 0, load generator and backend to core 1' : 'no pinning'}, bufferutil ${result.machine.bufferutil ? 'installed' : 'missing'}, commit ${result.commit}. ` +
    'wstap runs as users run it: `node bin/wstap.js`, nothing set in its environment. ' +
    "CPU is the proxy process's utime + stime per forwarded message (each round trip forwards two) or per MB forwarded (both directions); × pipe is the median of the per-repetition ratios to the bare TCP pipe. " +
    'Background CPU is what the rest of the machine (other processes, other guests) used during the measurement, as a share of both cores: above a few percent, the run was disturbed.',
);

/**
 * The largest idle count is the slowest scenario (about 30 s a target): unless --targets
 * names them, the logging variants of wstap (whose memory per connection is wstap's, see
 * the smaller count) are left out of it, to keep the full run under 10 minutes.
 */
function idleSkipped(name, count) {
  if (TARGET_DEFS[name].only) return true;
  return !opts.targets && count > 2_000 && (name === 'wstap-debug' || name === 'wstap-no-ui');
}

const missingRow = (name, cols) => `| ${TARGET_DEFS[name].label} | ${TARGET_DEFS[name].missing} |${' |'.repeat(cols - 2)}`;

function loadTable(key, title, kind) {
  const runs = result.scenarios[key];
  if (!runs) return;
  const cpu = summarise(runs, kind === 'bulk' ? 'cpuMsPerMB' : 'cpuUsPerMsg');
  const rate = summarise(runs, kind === 'bulk' ? 'mbPerSec' : 'roundTripsPerSec');
  const bg = summarise(runs, 'backgroundPct');
  // Targets measured only in other scenarios have no row here.
  const targetNames = TARGET_NAMES.filter((n) => !TARGET_DEFS[n].only || TARGET_DEFS[n].only.includes(key));
  out.push('', `### ${title}`, '');
  if (kind === 'latency') {
    const p50 = summarise(runs, 'p50us');
    const p99 = summarise(runs, 'p99us');
    out.push('| target | p50 µs | p99 µs | p50 − pipe µs | proxy CPU µs/msg | CPU × pipe | background CPU |', '|---|---:|---:|---:|---:|---:|---:|');
    for (const name of targetNames) {
      if (!runs[name]) {
        out.push(missingRow(name, 7));
        continue;
      }
      const d = p50.pipe && p50[name].median !== undefined ? p50[name].median - p50.pipe.median : undefined;
      out.push(
        `| ${TARGET_DEFS[name].label} | ${fmt(p50[name].median)} | ${fmt(p99[name].median)} | ${name === 'pipe' ? '0' : fmt(d)} | ${fmt(cpu[name].median, 2)} | ${ratioCell(cpu[name], name)} | ${pct(bg[name].median)} |`,
      );
    }
    repetitionsNote(key);
    return;
  }
  const unitRate = kind === 'bulk' ? 'MB/s (both ways)' : 'round trips/s';
  const unitCpu = kind === 'bulk' ? 'proxy CPU ms/MB' : 'proxy CPU µs/msg';
  out.push(`| target | ${unitRate} | ${unitCpu} | CPU × pipe | background CPU |`, '|---|---:|---:|---:|---:|');
  for (const name of targetNames) {
    if (!runs[name]) {
      out.push(missingRow(name, 5));
      continue;
    }
    out.push(
      `| ${TARGET_DEFS[name].label} | ${kind === 'bulk' ? fmt(rate[name].median) : fmtInt(rate[name].median)} | ${fmt(cpu[name].median, 2)} | ${ratioCell(cpu[name], name)} | ${pct(bg[name].median)} |`,
    );
  }
  repetitionsNote(key);
}

/**
 * Under a load table, when it had several repetitions: how many (and how many of them extra,
 * for a ratio that spread too wide), and the targets whose ratio still spreads too wide.
 */
function repetitionsNote(key) {
  const r = result.repetitions[key];
  if (!r || r.reps < 2) return;
  const limit = `${SPREAD_LIMIT * 100}%`;
  let line = r.extra ? `${r.reps} repetitions, ${r.extra} of them extra (a CPU ratio spread over ${limit} of its median)` : `${r.reps} repetitions`;
  if (r.reps >= 5) line += '; the ranges leave out the lowest and the highest repetition';
  line += r.noisy.length
    ? `; still noisy (spread over ${limit}): ${r.noisy.map((n) => `${n.target} ${rangeText(n)} (${pct(n.spread * 100)})`).join(', ')}${MAX_EXTRA_REPS || key === 'view' ? '' : ' (`--max-extra-reps N` repeats it)'}.`
    : `; every CPU ratio within ${limit}.`;
  out.push('', line);
}

const pp = cfg.pingPong;
loadTable('ping-pong', `Ping-pong latency (1 connection, ${pp.size}-byte messages, ${N(pp.roundTrips)} round trips)`, 'latency');
const sm = cfg.small;
loadTable(
  'small',
  `Small messages (${sm.connections} connections × ${sm.inFlight} in flight, ${sm.size} B JSON text, ${sm.durationMs / 1000} s)`,
  'msg',
);
const bk = cfg.bulk;
loadTable('bulk', `Bulk (${bk.connections} connections × ${bk.inFlight} in flight, ${bk.size / 1024} KB binary, ${bk.durationMs / 1000} s)`, 'bulk');
const cm = cfg.compressed;
loadTable(
  'compressed',
  `Compressed small messages (permessage-deflate, ${cm.connections} × ${cm.inFlight} in flight, ${cm.size} B JSON text, ${cm.durationMs / 1000} s)`,
  'msg',
);

const sio = cfg.socketio;
loadTable(
  'socketio',
  `Socket.IO events with acks (${sio.connections} connections × ${sio.inFlight} in flight, ${sio.size} B engine.io/Socket.IO text on /socket.io/, ${sio.durationMs / 1000} s)`,
  'msg',
);

const vw = cfg.view;
if (result.scenarios.view) {
  const runs = result.scenarios.view;
  const cpu = summarise(runs, 'cpuUsPerMsg');
  const rate = summarise(runs, 'roundTripsPerSec');
  const bg = summarise(runs, 'backgroundPct');
  out.push(
    '',
    `### The live view: one session at ${N(vw.rate * 2)} messages/s offered (${vw.size} B JSON text, ${vw.durationMs / 1000} s), with and without a page following it`,
    '',
  );
  out.push(
    '| target | messages/s | proxy CPU µs/msg | CPU × pipe | page: longest task | page: tasks > 50 ms | page: last message shown | background CPU |',
  );
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|');
  const label = { 'wstap-page': 'wstap, a page following the session', wstap: 'wstap, no page attached' };
  for (const name of Object.keys(runs)) {
    const reps = runs[name];
    const pages = reps.map((r) => r.page).filter(Boolean);
    const longest = pages.length ? Math.max(...pages.map((p) => p.longestTaskMs)) : undefined;
    out.push(
      `| ${label[name] ?? TARGET_DEFS[name].label} | ${fmtInt(rate[name].median * 2)} | ${fmt(cpu[name].median, 2)} | ${ratioCell(cpu[name], name)} | ${longest === undefined ? '–' : `${Math.round(longest)} ms`} | ${pages.length ? Math.max(...pages.map((p) => p.longTasks)) : '–'} | ${pages.length ? `#${N(Math.min(...pages.map((p) => p.lastSeq)))}` : '–'} | ${pct(bg[name].median)} |`,
    );
  }
  repetitionsNote('view');
}

for (const count of cfg.idle) {
  const runs = result.scenarios[`idle-${count}`];
  if (!runs) continue;
  const rss = summarise(runs, 'rssPerConnKb');
  out.push('', `### Idle connections: ${N(count)}`, '');
  out.push(
    `| target | opened | time to open ms | proxy RSS KiB/conn | RSS × pipe${REPS > 1 ? ' (range)' : ''} | held without an error |`,
    '|---|---:|---:|---:|---:|---|',
  );
  for (const name of targetNames) {
    const reps = runs[name]?.filter(Boolean) ?? [];
    if (!reps.length) {
      out.push(
        idleSkipped(name, count)
          ? `| ${TARGET_DEFS[name].label} | not run at this count (see the smaller one; \`--targets\` runs it) |${' |'.repeat(4)}`
          : missingRow(name, 6),
      );
      continue;
    }
    const failing = reps.find((r) => !r.held);
    const why = !failing
      ? 'yes'
      : `no (${[failing.failed && `${failing.failed} failed ${JSON.stringify(failing.connectErrors)}`, failing.closedEarly && `${failing.closedEarly} closed early`, !failing.proxyAlive && 'proxy died', failing.proxyErrorLines && `${failing.proxyErrorLines} error lines`].filter(Boolean).join(', ')})`;
    const opened = Math.min(...reps.map((r) => r.opened));
    out.push(
      `| ${TARGET_DEFS[name].label} | ${N(opened)} | ${fmtInt(median(reps.map((r) => r.openMs)))} | ${fmt(rss[name].median)} | ${name === 'direct' || name === 'pipe' ? '–' : ratioCell(rss[name], name)} | ${why} |`,
    );
  }
}

// The issue's targets, as ratios to the pipe of this run.
const checks = [];
/**
 * A target and what this run measured of it. `range` ({ n, min, max, bound, text }), when there
 * are several repetitions: if it straddles the limit (≤ bound), some repetitions met the target
 * and some did not, and the run can neither confirm nor refute it: met is `noisy`.
 */
function check(what, limit, measured, ok, range) {
  const r = range && range.n > 1 && range.min !== undefined ? range : undefined;
  const noisy = r && ok !== null && r.min <= r.bound && r.max > r.bound;
  checks.push({ what, limit, measured, met: noisy ? 'noisy' : ok, ...(r ? { range: [r.min, r.max], rangeText: r.text } : {}) });
}
/** A target on a ratio (st: a summarise row, or spreadOf with ratio = its median) of at most `bound`; no ratio (no pipe measured): skipped. */
function ratioCheck(what, limit, bound, st) {
  const known = st.ratio !== undefined && Number.isFinite(st.ratio);
  check(what, limit, ratio(st.ratio), known ? st.ratio <= bound : null, { ...st, bound, text: rangeText(st) });
}
/** One target's ratio against another's, per repetition (both to the same pipe repetition), with its median as the ratio. */
function against(c, a, b) {
  const q = spreadOf(pairedQuotients(c[a], c[b]));
  return { ...q, ratio: q.median };
}
const s = result.scenarios;
if (s.small?.wstap) {
  ratioCheck('small messages: CPU per message, default logging', '≤ 1.3× pipe', 1.3, summarise(s.small, 'cpuUsPerMsg').wstap);
}
if (s.bulk?.wstap) {
  ratioCheck('bulk: CPU per MB, default logging', '≤ 1.6× pipe', 1.6, summarise(s.bulk, 'cpuMsPerMB').wstap);
}
if (s.compressed?.wstap) {
  ratioCheck('compressed small messages: CPU per message', '≤ 2.5× pipe', 2.5, summarise(s.compressed, 'cpuUsPerMsg').wstap);
}
if (s.small?.wstap && s.small['wstap-no-ui']) {
  ratioCheck(
    'the live view with no browser: CPU per message against --no-ui (issue 13)',
    '≤ 1.05× --no-ui',
    1.05,
    against(summarise(s.small, 'cpuUsPerMsg'), 'wstap', 'wstap-no-ui'),
  );
}
if (s.view?.['wstap-page']) {
  ratioCheck(
    `the live view with a page following a session at ${N(vw.rate * 2)} messages/s: CPU per message (issue 13)`,
    '≤ 1.5× pipe',
    1.5,
    summarise(s.view, 'cpuUsPerMsg')['wstap-page'],
  );
  const longest = Math.max(...s.view['wstap-page'].map((r) => r.page.longestTaskMs));
  check('the page following that session: longest task on its main thread (Long Tasks API)', '≤ 200 ms', `${Math.round(longest)} ms`, longest <= 200);
}
if (s.small?.wstap && s.small['wstap-no-metrics']) {
  ratioCheck(
    'the metrics: CPU per small message against --no-metrics (issue 15)',
    '≤ 1.05× --no-metrics',
    1.05,
    against(summarise(s.small, 'cpuUsPerMsg'), 'wstap', 'wstap-no-metrics'),
  );
}
if (s.small?.wstap && s.small['wstap-no-analysis']) {
  ratioCheck(
    'the metrics and the patterns across sessions: CPU per small message against both off (issue 15)',
    '≤ 1.05× off',
    1.05,
    against(summarise(s.small, 'cpuUsPerMsg'), 'wstap', 'wstap-no-analysis'),
  );
}
if (s.socketio?.wstap) {
  ratioCheck('Socket.IO events with acks, decoded: CPU per message (issue 16)', '≤ 1.3× pipe', 1.3, summarise(s.socketio, 'cpuUsPerMsg').wstap);
}
if (s.small?.['wstap-rules']) {
  ratioCheck(
    'fault rules present that take no session: CPU per small message (issue 14)',
    '≤ 1.3× pipe',
    1.3,
    summarise(s.small, 'cpuUsPerMsg')['wstap-rules'],
  );
}
if (s.small?.['wstap-reframed']) {
  ratioCheck(
    'every session re-framed, no rule firing: CPU per small message (issue 14)',
    '≤ 2.5× pipe',
    2.5,
    summarise(s.small, 'cpuUsPerMsg')['wstap-reframed'],
  );
}
if (s.compressed?.['wstap-reframed']) {
  ratioCheck(
    'every session re-framed, no rule firing: CPU per compressed small message (issue 14)',
    '≤ 4× pipe',
    4,
    summarise(s.compressed, 'cpuUsPerMsg')['wstap-reframed'],
  );
}
if (s.small?.['wstap-record']) {
  ratioCheck('--record: CPU per message (small messages)', '≤ 2× pipe', 2, summarise(s.small, 'cpuUsPerMsg')['wstap-record']);
}
if (s.bulk?.['wstap-record']) {
  // Issue 17: every 64 KB binary message written to the file as base64 (87 KB of text each).
  ratioCheck('--record: CPU per MB (bulk, binary)', '≤ 2× pipe', 2, summarise(s.bulk, 'cpuMsPerMB')['wstap-record']);
}
if (s['ping-pong']?.wstap && s['ping-pong'].pipe) {
  const p = summarise(s['ping-pong'], 'p50us');
  const d = p.wstap.median - p.pipe.median;
  // Per repetition, wstap's p50 less the pipe's of the same repetition.
  const ping = s['ping-pong'];
  const ds = spreadOf(ping.wstap.map((r, i) => (ping.pipe[i] ? r.p50us - ping.pipe[i].p50us : undefined)));
  const us = (v) => `${v >= 0 ? '+' : ''}${fmt(v)}`;
  check('ping-pong p50, default logging', '≤ pipe + 20 µs', `${us(d)} µs`, d <= 20, { ...ds, bound: 20, text: `${us(ds.min)}–${us(ds.max)} µs` });
}
for (const count of cfg.idle) {
  const runs = s[`idle-${count}`];
  if (!runs?.wstap?.[0]) continue;
  if (runs.pipe?.[0]) {
    const rss = summarise(runs, 'rssPerConnKb');
    ratioCheck(`${N(count)} idle: resident memory per connection`, '≤ 1.5× pipe', 1.5, rss.wstap);
    if (rss['wstap-record']) ratioCheck(`${N(count)} idle, --record: resident memory per connection`, '≤ 1.5× pipe', 1.5, rss['wstap-record']);
  }
  if (count >= 9_500) {
    const held = runs.wstap.every((r) => r?.held);
    check(`${N(count)} idle connections held without an error`, 'all held', held ? 'yes' : 'no', held);
  }
}
if (checks.length) {
  out.push('', '### Targets', '', '| target | limit | measured | range | met |', '|---|---|---|---|---|');
  const met = (c) => (c.met === null ? 'skipped' : c.met === 'noisy' ? `noisy (${c.rangeText})` : c.met ? 'yes' : '**no**');
  for (const c of checks) out.push(`| ${c.what} | ${c.limit} | ${c.measured} | ${c.rangeText ?? '–'} | ${met(c)} |`);
}
result.targetsMet = checks;

if (BEFORE) {
  // This run against an earlier one: each CPU ratio to the pipe then and now, with the ranges of their repetitions.
  const rows = compareResults(BEFORE, result);
  const relative = path.relative(process.cwd(), opts.compare);
  const shown = relative && !relative.startsWith('..') ? relative : opts.compare;
  result.compare = { file: opts.compare, commit: BEFORE.commit, startedAt: BEFORE.startedAt, mode: BEFORE.mode, rows };
  out.push('', `### Compared with ${shown} (${BEFORE.commit ?? 'unknown commit'}, ${BEFORE.startedAt ?? 'unknown time'})`, '');
  if (BEFORE.mode !== result.mode)
    out.push(`That run was ${BEFORE.mode ?? 'of another kind'}, this one ${result.mode}: their loads differ in length.`, '');
  if (rows.length) {
    out.push('| scenario | target | before × pipe | now × pipe | change | verdict |', '|---|---|---:|---:|---:|---|');
    for (const r of rows) {
      const v = r.verdict === 'slower' || r.verdict === 'faster' ? `**${r.verdict}**` : r.verdict;
      out.push(
        `| ${r.scenario} | ${r.target} | ${ratioCell(r.before, r.target)} | ${ratioCell(r.now, r.target)} | ${r.changePct >= 0 ? '+' : ''}${r.changePct.toFixed(1)}% | ${v} |`,
      );
    }
    out.push(
      '',
      `Change: of the median ratio, CPU for the loads and resident memory per connection for the idle scenarios (there, slower means more memory). same: the ranges overlap (or the medians are within ${CHANGE_LIMIT * 100}%); slower, faster: they do not; ` +
        `noisy: a range wider than ${SPREAD_LIMIT * 100}% of its median on either side, no verdict; unsure: a side with one repetition.`,
    );
  } else out.push('Nothing to compare: no scenario with a ratio to the pipe in both runs.');
}
out.push('', `Run time ${Math.round(result.durationS)} s. Rerun: \`npm run bench\` (or \`npm run bench -- --quick\`).`);

const markdown = out.join('\n');
process.stdout.write(`${markdown}\n`);
result.markdown = markdown;
mkdirSync(opts.out, { recursive: true });
const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
const file = path.join(opts.out, `bench-${result.mode}-${stamp}.json`);
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(path.join(opts.out, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
log(`results: ${path.relative(process.cwd(), file)}`);
process.exit(0);
