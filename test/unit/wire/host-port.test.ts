/** Addresses as the log prints them: IPv6 in brackets, an IPv4 client of a dual-stack listener as IPv4. */
import { describe, expect, it } from 'vitest';
import { hostPort, peerOf } from '../../../src/wire/host-port.js';

describe('hostPort', () => {
  it('prints IPv4 as it is, IPv6 in brackets, an IPv4-mapped address as IPv4', () => {
    expect(hostPort('127.0.0.1', 5173)).toBe('127.0.0.1:5173');
    expect(hostPort('::1', 5173)).toBe('[::1]:5173');
    expect(hostPort('fe80::1%eth0', 80)).toBe('[fe80::1%eth0]:80');
    expect(hostPort('::ffff:10.0.0.5', 42000)).toBe('10.0.0.5:42000');
    expect(hostPort('::FFFF:192.168.1.2', 1)).toBe('192.168.1.2:1');
  });

  it('a socket that is gone (no address) prints ?:0, not undefined', () => {
    expect(peerOf(undefined)).toBe('?:0');
    expect(peerOf({ remoteAddress: undefined, remotePort: undefined })).toBe('?:0');
    expect(peerOf({ remoteAddress: '::1', remotePort: 9 })).toBe('[::1]:9');
  });
});
