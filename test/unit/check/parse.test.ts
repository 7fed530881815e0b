/**
 * What `wstap check` parses (src/check): --origins lists with their presets, and the URL
 * to check.
 */
import { describe, expect, it } from 'vitest';
import { parseOriginList } from '../../../src/check/origins.js';
import { parseCheckUrl } from '../../../src/check/run-check.js';

describe('parsing (unit)', () => {
  it('origin lists: presets expand, origins are normalised, duplicates dropped, bad entries refused', () => {
    expect(parseOriginList('docker-dev')).toHaveLength(12);
    expect(parseOriginList('docker-dev')).toEqual(
      expect.arrayContaining([
        'http://localhost:3000',
        'http://127.0.0.1:8000',
        'http://frontend:3000',
        'http://backend:8000',
        'http://172.17.0.1:3000',
        'http://172.18.0.1:8000',
      ]),
    );
    expect(parseOriginList('http://localhost:3000/, http://localhost:3000 ,https://x.test/a?b')).toEqual(['http://localhost:3000', 'https://x.test']);
    expect(parseOriginList('docker-dev,http://netra-frontend:3000')).toHaveLength(13);
    expect(() => parseOriginList('ftp://x')).toThrow(/http/);
    expect(() => parseOriginList('docker')).toThrow(/preset/);
  });

  it('check URLs: ws, wss, http and https; the path and query are kept', () => {
    expect(parseCheckUrl('ws://localhost:8000/ws?x=1')).toMatchObject({
      path: '/ws?x=1',
      href: 'ws://localhost:8000/ws?x=1',
      target: { host: 'localhost', port: 8000, secure: false },
    });
    expect(parseCheckUrl('https://api.test')).toMatchObject({ path: '/', href: 'wss://api.test:443/', target: { secure: true, port: 443 } });
    expect(() => parseCheckUrl('ftp://x')).toThrow(/scheme/);
    expect(() => parseCheckUrl('localhost:8000')).toThrow();
  });
});
