import { readFileSync } from 'node:fs';

/** wstap's version, from package.json (one level above src/ and dist/). */
export const WSTAP_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
