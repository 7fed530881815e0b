/** Temporary folders and files, removed after the test (see cleanup.ts). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defer } from './cleanup.js';

/** A fresh folder under os.tmpdir(), removed after the test. */
export function tmpDir(prefix = 'wstap-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A path in a fresh temp folder (the file does not exist yet). */
export function tmpFile(name = 'session.jsonl'): string {
  return path.join(tmpDir(), name);
}

/** A file with this name and content in a fresh temp folder. */
export function writeTmpFile(name: string, content: string | Buffer): string {
  const file = tmpFile(name);
  writeFileSync(file, content);
  return file;
}
