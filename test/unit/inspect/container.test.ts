/**
 * Container detection (src/inspect/environment/container.ts) from a probe of files and
 * variables, which addresses are local, and the proxy's startup warning about a localhost
 * target inside a container (src/proxy/startup.ts) into a real pino logger.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { detectContainer, isLocalhost, localhostInContainerFinding, type ContainerProbe } from '../../../src/inspect/environment/container.js';
import { warnIfLocalhostInContainer } from '../../../src/proxy/startup.js';
import { parseTarget } from '../../../src/wire/target.js';

describe('container detection (unit)', () => {
  const probe = (p: Partial<ContainerProbe> & { files?: Record<string, string> }): ContainerProbe => ({
    env: p.env ?? {},
    exists: (f) => f in (p.files ?? {}),
    read: (f) => p.files?.[f],
  });

  it('reads /.dockerenv, /run/.containerenv, the container variable and /proc/1/cgroup; WSTAP_IN_CONTAINER overrides', () => {
    expect(detectContainer(probe({ files: { '/.dockerenv': '' } }))).toEqual({ inContainer: true, evidence: '/.dockerenv' });
    expect(detectContainer(probe({ files: { '/run/.containerenv': '' } }))).toMatchObject({ inContainer: true });
    expect(detectContainer(probe({ env: { container: 'podman' } }))).toEqual({ inContainer: true, evidence: 'container=podman' });
    expect(detectContainer(probe({ files: { '/proc/1/cgroup': '0::/kubepods/besteffort/pod1/abc\n' } }))).toEqual({
      inContainer: true,
      evidence: '/proc/1/cgroup (kubepods)',
    });
    expect(detectContainer(probe({ files: { '/proc/1/cgroup': '0::/init.scope\n' } }))).toEqual({ inContainer: false });
    expect(detectContainer(probe({ env: { WSTAP_IN_CONTAINER: 'false' }, files: { '/.dockerenv': '' } }))).toMatchObject({ inContainer: false });
    expect(detectContainer(probe({ env: { WSTAP_IN_CONTAINER: 'true' } }))).toMatchObject({ inContainer: true });
  });

  it('localhost, 127/8, ::1 and 0.0.0.0 are local; service names and other addresses are not', () => {
    for (const h of ['localhost', 'LOCALHOST', 'app.localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]', '0.0.0.0'])
      expect(isLocalhost(h), h).toBe(true);
    for (const h of ['backend', '172.17.0.1', 'example.com', '::2', 'localhost.example.com']) expect(isLocalhost(h), h).toBe(false);
  });

  it('the proxy warning: logged once at startup as an environment event, with the service name in the hint', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { base: undefined },
      new Writable({
        write(chunk: Buffer, _e, cb) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          cb();
        },
      }),
    );
    const inside = { inContainer: true, evidence: '/.dockerenv' };
    expect(warnIfLocalhostInContainer(logger, parseTarget('http://localhost:8000'), inside)?.code).toBe('localhost-in-container');
    expect(warnIfLocalhostInContainer(logger, parseTarget('http://backend:8000'), inside)).toBeUndefined();
    expect(warnIfLocalhostInContainer(logger, parseTarget('http://127.0.0.1:8000'), { inContainer: false })).toBeUndefined();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, event: 'environment', finding: { code: 'localhost-in-container', severity: 'warn' } });
    expect((lines[0]!['finding'] as { hint: string }).hint).toContain('--target http://backend:8000');
    expect(localhostInContainerFinding(parseTarget('wss://127.0.0.1:9443'), { command: 'check', path: '/socket' }, inside)!.hint).toContain(
      'wss://backend:9443/socket',
    );
  });
});
