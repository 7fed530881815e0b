/**
 * The tree shows the stages, and imports only point down the flow: a folder of src/ imports
 * only itself and the folders below it (docs/architecture.md has the order and why), no
 * module imports itself back through others, and almost nothing lies loose in src/.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../support/process.js';

const SRC = path.join(ROOT, 'src');

/** From the top of the flow down; folders on one row are peers and do not import each other. */
const LAYERS: readonly (readonly string[])[] = [
  ['index.ts'],
  // ui: the live view's page, bundled for the browser (it imports the server's types, and plain data).
  ['cli', 'ui'],
  ['demo', 'check', 'replay'],
  ['proxy'],
  // act: fault rules (and, later, breakpoints) as message hooks, and what the API can do to a session.
  ['act'],
  ['upgrade'],
  ['tunnel'],
  ['tap'],
  // protocols: the application protocol decoders (Socket.IO, GraphQL, STOMP, MQTT, JSON-RPC), for the tap and the HTTP path.
  ['protocols'],
  ['sinks'],
  ['log', 'recording'],
  ['views'],
  ['inspect'],
  ['session'],
  ['secrets'],
  ['wire'],
  ['version.ts'],
];

const rankOf = new Map<string, number>(LAYERS.flatMap((row, i) => row.map((unit) => [unit, i] as const)));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? files(p) : /\.tsx?$/.test(p) && !p.endsWith('.d.ts') ? [p] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2]!;
    if (!spec.startsWith('.')) continue;
    const ts = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts');
    out.push(existsSync(ts) || !existsSync(`${ts}x`) ? ts : `${ts}x`);
  }
  return out;
}

/** Edges from a folder to one that is not below it. */
function upwardImports(graph: ReadonlyMap<string, readonly string[]>, unit: (f: string) => string): string[] {
  const out: string[] = [];
  for (const [f, deps] of graph) {
    const from = unit(f);
    for (const d of deps) {
      const to = unit(d);
      if (to !== from && rankOf.get(to)! <= rankOf.get(from)!) out.push(`${f} (${from}) → ${d} (${to})`);
    }
  }
  return out;
}

/** Every cycle met in a depth-first walk, as a path that ends where it started. */
function cyclesIn(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[][] = [];
  const visit = (f: string, trail: string[]): void => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      cycles.push([...trail.slice(trail.indexOf(f)), f]);
      return;
    }
    state.set(f, 'open');
    for (const d of graph.get(f) ?? []) visit(d, [...trail, f]);
    state.set(f, 'done');
  };
  for (const f of graph.keys()) visit(f, []);
  return cycles;
}

const modules = files(SRC);
const graph = new Map(modules.map((f) => [path.relative(SRC, f), importsOf(f).map((d) => path.relative(SRC, d))]));
const unitOfRel = (rel: string): string => rel.split(path.sep)[0]!;

describe('architecture', () => {
  it('every folder of src/ has its place in the order, and every import resolves', () => {
    const units = new Set([...graph.keys()].map(unitOfRel));
    expect([...units].filter((u) => !rankOf.has(u))).toEqual([]);
    const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${f} → ${d}`));
    expect(missing).toEqual([]);
  });

  it('imports point down the flow: a folder imports only itself and folders below it', () => {
    expect(upwardImports(graph, unitOfRel)).toEqual([]);
  });

  it('no import cycle between modules', () => {
    expect(cyclesIn(graph).map((c) => c.join(' → '))).toEqual([]);
  });

  it('only the library entry and the version lie loose in src/', () => {
    const loose = readdirSync(SRC).filter((n) => n.endsWith('.ts'));
    expect(loose.sort()).toEqual(['index.ts', 'version.ts']);
  });

  it('the checks see what they are for: an upward import, a peer import and a cycle in a made-up graph', () => {
    const bad = new Map<string, string[]>([
      ['tap/a.ts', ['proxy/b.ts']],
      ['proxy/b.ts', ['tap/a.ts']],
      ['log/c.ts', ['recording/d.ts']],
      ['recording/d.ts', []],
    ]);
    expect(upwardImports(bad, unitOfRel)).toEqual(['tap/a.ts (tap) → proxy/b.ts (proxy)', 'log/c.ts (log) → recording/d.ts (recording)']);
    expect(cyclesIn(bad)).toEqual([['tap/a.ts', 'proxy/b.ts', 'tap/a.ts']]);
  });
});
