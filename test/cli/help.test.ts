/**
 * The bin's help and tables through the real launcher: --help of the program and of every
 * command, --version, and `wstap findings` (table, --json, the README's table).
 */
import { readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FINDING_CATALOG } from '../../src/session/finding.js';
import { wstap } from '../support/check.js';
import { runWstap } from '../support/cli.js';
import { runDeferred } from '../support/cleanup.js';
import { ensureBuilt } from '../support/process.js';

const PKG = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

const ALL_CODES = [
  'origin-duplicate',
  'origin-disallowed',
  'origin-missing',
  'auth-missing',
  'auth-expired',
  'handshake-invalid',
  'upgrade-rejected',
  'upgrade-accept-invalid',
  'upstream-refused',
  'upstream-dns',
  'upstream-timeout',
];

const PROXY_OPTIONS = ['--target', '--port', '--host', '--allow-origin', '--normalize-origin', '--log-format', '--log-level', '--shutdown-grace'];
const PROXY_ENV = [
  'WSTAP_TARGET',
  'WSTAP_PORT',
  'WSTAP_HOST',
  'WSTAP_ALLOW_ORIGINS',
  'WSTAP_NORMALIZE_ORIGIN',
  'WSTAP_LOG_FORMAT',
  'WSTAP_LOG_LEVEL',
  'WSTAP_SHUTDOWN_GRACE',
];

describe('wstap --help and --version', () => {
  it('proxy --help lists every proxy option and its environment variable', async () => {
    const r = await runWstap(['proxy', '--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    for (const o of PROXY_OPTIONS) expect(r.stdout).toContain(o);
    for (const e of PROXY_ENV) expect(r.stdout).toContain(e);
  });

  it('help proxy prints the same as proxy --help', async () => {
    const a = await runWstap(['help', 'proxy']);
    const b = await runWstap(['proxy', '--help']);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });

  it('--help of the program exits 0 and lists the commands', async () => {
    const r = await runWstap(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    for (const c of ['proxy', 'demo', 'findings']) expect(r.stdout).toMatch(new RegExp(`^\\s+${c}\\b`, 'm'));
  });

  // Guards the program's --help: `wstap --target ...` is the main way to run wstap (proxy is
  // the default command), so `wstap --help` shows the proxy's options, not only the command list.
  it('--help of the program lists the (default) proxy options and their environment variables', async () => {
    const r = await runWstap(['--help']);
    expect(r.code).toBe(0);
    for (const o of PROXY_OPTIONS) expect(r.stdout).toContain(o);
    for (const e of PROXY_ENV) expect(r.stdout).toContain(e);
  });

  it('demo --help lists its options and their environment variables', async () => {
    const r = await runWstap(['demo', '--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    for (const o of ['--port', '--backend-port', '--keep', '--log-format', '--log-level']) expect(r.stdout).toContain(o);
    for (const e of ['WSTAP_PORT', 'WSTAP_LOG_FORMAT', 'WSTAP_LOG_LEVEL']) expect(r.stdout).toContain(e);
  });

  it('findings --help lists --json', async () => {
    const r = await runWstap(['findings', '--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('--json');
  });

  it('--version and -v print the package.json version', async () => {
    for (const flag of ['--version', '-v']) {
      const r = await runWstap([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(PKG.version);
    }
  });
});

describe('wstap findings', () => {
  it('prints every code', async () => {
    const r = await runWstap(['findings']);
    expect(r.code).toBe(0);
    for (const c of ALL_CODES) expect(r.stdout).toMatch(new RegExp(`^${c}\\s`, 'm'));
  });

  it('--json is valid JSON with every code, a severity and a description', async () => {
    const r = await runWstap(['findings', '--json']);
    expect(r.code).toBe(0);
    const table = JSON.parse(r.stdout) as Record<string, { severity: string; when: string }>;
    for (const c of ALL_CODES) {
      expect(table[c], c).toBeDefined();
      expect(['info', 'warn', 'error']).toContain(table[c]!.severity);
      expect(table[c]!.when.length).toBeGreaterThan(0);
    }
  });
});

describe('--help of every command', () => {
  it("wstap --help lists the commands, check among them, and each command's --help exits 0 with its usage", { timeout: 90_000 }, async () => {
    const top = await wstap(['--help']);
    expect(top.code).toBe(0);
    const section = top.stdout.split(/^Commands:$/m)[1]!.split(/\n\s*\n/)[0]!;
    const commands = [...section.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    expect(commands).toEqual(expect.arrayContaining(['proxy', 'demo', 'findings', 'check']));
    for (const c of commands) {
      const r = await wstap([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toMatch(new RegExp(`^Usage: wstap ${c}\\b`));
      expect(r.stderr, c).toBe('');
    }
  });

  it('wstap check --help lists every option, the presets and the exit codes', async () => {
    const r = await wstap(['check', '--help']);
    expect(r.code).toBe(0);
    for (const o of [
      '--origin',
      '--header',
      '--subprotocol',
      '--health',
      '--linger',
      '--send',
      '--origins',
      '--dotenv',
      '--timeout',
      '--insecure',
      '--json',
    ]) {
      expect(r.stdout, o).toContain(o);
    }
    expect(r.stdout).toContain('docker-dev');
    expect(r.stdout).toMatch(/Exit status: 0 .*1 .*2/);
  });
});

describe('the findings table', () => {
  it('wstap findings and the README table list every code of the catalogue, the new ones included', async () => {
    const r = await wstap(['findings']);
    expect(r.code).toBe(0);
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const code of Object.keys(FINDING_CATALOG)) {
      expect(r.stdout, code).toMatch(new RegExp(`^${code}\\s`, 'm'));
      expect(readme, code).toMatch(new RegExp(`^\\| \`${code}\` \\| ${FINDING_CATALOG[code as keyof typeof FINDING_CATALOG].severity} \\|`, 'm'));
    }
  });
});
