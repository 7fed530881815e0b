/**
 * JSON paths: one grammar for every option that names a place in a JSON message
 * (--correlate, --ignore). `$` is the message; `.name` a member, `['name']` a member with
 * any characters, `[2]` an array element, `[*]` or `.*` any member or element, `..name`
 * that member at any depth. The leading `$.` may be left out: `id` is `$.id`.
 */

/** Any member or element (`*`). */
export const ANY = Symbol('*');
/** Any number of levels, including none (`..`). */
export const DEEP = Symbol('..');

export type PathStep = string | number | typeof ANY | typeof DEEP;

export interface JsonPath {
  /** As written. */
  source: string;
  steps: PathStep[];
}

export class JsonPathError extends Error {
  override readonly name = 'JsonPathError';
}

const STEP = /\.\.([A-Za-z_$][\w$-]*|\*)|\.([A-Za-z_$][\w$-]*|\*)|\[(\d+|\*)\]|\[(?:'([^']*)'|"([^"]*)")\]/y;

export function parseJsonPath(source: string): JsonPath {
  const text = source.trim();
  if (!text) throw new JsonPathError('an empty JSON path');
  let p = text;
  if (p.startsWith('$')) p = p.slice(1);
  else if (!p.startsWith('.') && !p.startsWith('[')) p = `.${p}`;
  const steps: PathStep[] = [];
  let pos = 0;
  while (pos < p.length) {
    STEP.lastIndex = pos;
    const m = STEP.exec(p);
    if (!m) throw new JsonPathError(`invalid JSON path "${text}" at "${p.slice(pos)}"`);
    if (m[1] !== undefined) steps.push(DEEP, m[1] === '*' ? ANY : m[1]);
    else if (m[2] !== undefined) steps.push(m[2] === '*' ? ANY : m[2]);
    else if (m[3] !== undefined) steps.push(m[3] === '*' ? ANY : Number(m[3]));
    else steps.push(m[4] ?? m[5]!);
    pos = STEP.lastIndex;
  }
  if (steps.length === 0) throw new JsonPathError(`the JSON path "${text}" names the whole message, not a value in it`);
  return { source: text, steps };
}

/** A path that names one value (no `*`, no `..`): what --correlate needs. */
export function parseValuePath(source: string): { source: string; steps: (string | number)[] } {
  const path = parseJsonPath(source);
  if (path.steps.some((s) => s === ANY || s === DEEP)) {
    throw new JsonPathError(`the JSON path "${path.source}" must name one value (no * and no ..)`);
  }
  return path as { source: string; steps: (string | number)[] };
}

/** Whether the concrete location `at` (keys and indexes from the root) is one the path names. */
export function pathMatches(path: JsonPath, at: readonly (string | number)[]): boolean {
  const steps = path.steps;
  const go = (si: number, ai: number): boolean => {
    if (si === steps.length) return ai === at.length;
    const step = steps[si]!;
    if (step === DEEP) {
      for (let k = ai; k <= at.length; k++) if (go(si + 1, k)) return true;
      return false;
    }
    if (ai >= at.length) return false;
    if (step === ANY || step === at[ai] || (typeof at[ai] === 'number' && step === String(at[ai]))) return go(si + 1, ai + 1);
    return false;
  };
  return go(0, 0);
}

/** A concrete location written as a path: $.items[2].id, $["a b"]. */
export function formatPath(at: readonly (string | number)[]): string {
  return `$${at.map((p) => (typeof p === 'number' ? `[${p}]` : /^[A-Za-z_$][\w$]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`)).join('')}`;
}
