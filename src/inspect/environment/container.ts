/**
 * "Am I in a container?", and the warning that follows from it: inside a container,
 * localhost is the container itself, not the host and not the backend's container.
 */
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import type { Finding, FindingCodeOf } from '../../session/finding.js';
import { finding } from '../finding.js';
import type { Target } from '../../wire/target.js';

export interface ContainerInfo {
  inContainer: boolean;
  /** What gave it away: "/.dockerenv", "/proc/1/cgroup (docker)", "container=podman", "WSTAP_IN_CONTAINER=true". */
  evidence?: string;
}

/** Where the detection looks; replaceable in tests. */
export interface ContainerProbe {
  env: NodeJS.ProcessEnv;
  exists(path: string): boolean;
  read(path: string): string | undefined;
}

const systemProbe: ContainerProbe = {
  env: process.env,
  exists: (p) => existsSync(p),
  read: (p) => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
  },
};

const CGROUP_RUNTIME = /\b(docker|kubepods|containerd|libpod|podman|lxc|ecs)\b/;

/**
 * WSTAP_IN_CONTAINER=true|false overrides the detection (for a runtime it misses, or to
 * silence it); then /.dockerenv (Docker), /run/.containerenv (Podman), the `container`
 * variable (systemd-nspawn, Podman, LXC) and the runtime's name in /proc/1/cgroup.
 */
export function detectContainer(probe: ContainerProbe = systemProbe): ContainerInfo {
  const forced = probe.env['WSTAP_IN_CONTAINER'];
  if (forced !== undefined && forced !== '') {
    if (/^(1|true|yes|on)$/i.test(forced)) return { inContainer: true, evidence: `WSTAP_IN_CONTAINER=${forced}` };
    if (/^(0|false|no|off)$/i.test(forced)) return { inContainer: false, evidence: `WSTAP_IN_CONTAINER=${forced}` };
  }
  if (probe.exists('/.dockerenv')) return { inContainer: true, evidence: '/.dockerenv' };
  if (probe.exists('/run/.containerenv')) return { inContainer: true, evidence: '/run/.containerenv' };
  const envVar = probe.env['container'];
  if (envVar) return { inContainer: true, evidence: `container=${envVar}` };
  const cgroup = probe.read('/proc/1/cgroup');
  const m = cgroup ? CGROUP_RUNTIME.exec(cgroup) : null;
  if (m) return { inContainer: true, evidence: `/proc/1/cgroup (${m[1]})` };
  return { inContainer: false };
}

/** localhost, *.localhost, 127.0.0.0/8, ::1 and the unspecified addresses (which connect to the local machine). */
export function isLocalhost(host: string): boolean {
  const h = host
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.') || h === '0.0.0.0';
  if (net.isIPv6(h)) return h === '::1' || h === '::' || /^::ffff:127\./.test(h) || /^0*:0*:0*:0*:0*:0*:0*:0*1$/.test(h);
  return false;
}

export interface LocalhostWarningContext {
  /**
   * Something answered on the target from here: the backend runs in this same container (a dev
   * container, Codespaces) and localhost is right. No warning then.
   */
  answers?: boolean;
  /** The command the user runs, for the hint: the proxy's --target, or check's URL. */
  command: 'proxy' | 'check';
  /** For check: the WebSocket path, so the hint's example is the URL to use. */
  path?: string;
}

/**
 * The warning when wstap runs in a container and its target is localhost; undefined
 * when it does not apply.
 */
export function localhostInContainerFinding(
  target: Pick<Target, 'host' | 'port' | 'secure'>,
  ctx: LocalhostWarningContext,
  info: ContainerInfo = detectContainer(),
): Finding<FindingCodeOf<'environment'>> | undefined {
  if (!info.inContainer || !isLocalhost(target.host) || ctx.answers) return undefined;
  const where = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
  const service = `backend:${target.port}`;
  const example =
    ctx.command === 'check'
      ? `wstap check ${target.secure ? 'wss' : 'ws'}://${service}${ctx.path ?? '/ws'}`
      : `--target ${target.secure ? 'https' : 'http'}://${service} (WSTAP_TARGET in the compose file)`;
  return finding(
    'localhost-in-container',
    `wstap runs inside a container (${info.evidence ?? 'detected'}) and its target is ${where}: there, localhost is the container itself, not your machine and not the backend's container.`,
    `Use the backend's compose service name on a shared network, e.g. ${example}. For a backend that runs on the host, ` +
      'use host.docker.internal (on Linux add extra_hosts: ["host.docker.internal:host-gateway"]). ' +
      'Set WSTAP_IN_CONTAINER=false if the detection is wrong.',
  );
}
