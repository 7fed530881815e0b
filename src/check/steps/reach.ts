/** Steps resolve and connect: does the host name resolve, does the port accept a connection (TLS included). */
import dns from 'node:dns/promises';
import net from 'node:net';
import type tls from 'node:tls';
import { inspectUpstreamFailure } from '../../inspect/registry.js';
import type { UpstreamFailure } from '../../session/session.js';
import { connectUpstream, failureOf, UpstreamTimeout } from '../../upgrade/upstream.js';
import type { Target } from '../../wire/target.js';
import { since, type CheckStep } from '../step.js';
import { hostPort } from '../../wire/host-port.js';

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(onTimeout()), ms)))]).finally(() => clearTimeout(timer));
}

export async function resolveStep(target: Target, timeoutMs: number): Promise<CheckStep> {
  if (net.isIP(target.host)) return { name: 'resolve', verdict: 'ok', ms: 0, detail: `${target.host} is an IP address`, findings: [] };
  const t = performance.now();
  try {
    const addrs = await withTimeout(dns.lookup(target.host, { all: true }), timeoutMs, () =>
      Object.assign(new Error(`no answer from the resolver within ${timeoutMs} ms`), { code: 'EAI_AGAIN' }),
    );
    const list = addrs.map((a) => a.address);
    return {
      name: 'resolve',
      verdict: 'ok',
      ms: since(t),
      detail: `${target.host} → ${list.slice(0, 4).join(', ')}${list.length > 4 ? ', …' : ''}`,
      findings: [],
    };
  } catch (err) {
    const failure = failureOf(err);
    return {
      name: 'resolve',
      verdict: 'error',
      ms: since(t),
      detail: `${target.host} does not resolve (${failure.code})`,
      findings: [inspectUpstreamFailure(target, failure, undefined, 'check')],
    };
  }
}

export function connectStep(target: Target, timeoutMs: number, insecure: boolean): Promise<CheckStep> {
  const t = performance.now();
  return new Promise((resolve) => {
    const { socket, readyEvent } = connectUpstream(target, { insecure });
    let phaseDone = false;
    const done = (step: CheckStep): void => {
      if (phaseDone) return;
      phaseDone = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(step);
    };
    const fail = (err: unknown): void => {
      const failure: UpstreamFailure = failureOf(err);
      done({
        name: 'connect',
        verdict: 'error',
        ms: since(t),
        detail: `no connection to ${target.host}:${target.port} (${failure.code})`,
        findings: [inspectUpstreamFailure(target, failure, 'connect', 'check')],
      });
    };
    const timer = setTimeout(() => fail(new UpstreamTimeout('connect', timeoutMs)), timeoutMs);
    socket.on('error', fail);
    socket.once(readyEvent, () => {
      const tlsInfo = target.secure ? `, ${(socket as tls.TLSSocket).getProtocol?.() ?? 'TLS'}` : '';
      done({
        name: 'connect',
        verdict: 'ok',
        ms: since(t),
        detail: `connected to ${hostPort(socket.remoteAddress ?? target.host, socket.remotePort ?? target.port)}${tlsInfo}`,
        findings: [],
      });
    });
  });
}
