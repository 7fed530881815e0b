/** Phase app, MQTT: a refused CONNECT, an MQTT 5 DISCONNECT with an error reason. */
import type { Finding, FindingCodeOf } from '../../session/finding.js';
import { finding } from '../finding.js';

type MqttFinding = Finding<FindingCodeOf<'app'>>;

/** MQTT 3.1.1 CONNACK return codes. */
const V3: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorised',
};

/** MQTT 5 reason codes (CONNACK and DISCONNECT). */
export const MQTT5_REASONS: Record<number, string> = {
  0x04: 'disconnect with will message',
  0x80: 'unspecified error',
  0x81: 'malformed packet',
  0x82: 'protocol error',
  0x83: 'implementation specific error',
  0x84: 'unsupported protocol version',
  0x85: 'client identifier not valid',
  0x86: 'bad user name or password',
  0x87: 'not authorized',
  0x88: 'server unavailable',
  0x89: 'server busy',
  0x8a: 'banned',
  0x8b: 'server shutting down',
  0x8c: 'bad authentication method',
  0x8d: 'keep alive timeout',
  0x8e: 'session taken over',
  0x8f: 'topic filter invalid',
  0x90: 'topic name invalid',
  0x93: 'receive maximum exceeded',
  0x94: 'topic alias invalid',
  0x95: 'packet too large',
  0x96: 'message rate too high',
  0x97: 'quota exceeded',
  0x98: 'administrative action',
  0x99: 'payload format invalid',
  0x9a: 'retain not supported',
  0x9b: 'QoS not supported',
  0x9c: 'use another server',
  0x9d: 'server moved',
  0x9e: 'shared subscriptions not supported',
  0x9f: 'connection rate exceeded',
  0xa0: 'maximum connect time',
  0xa1: 'subscription identifiers not supported',
  0xa2: 'wildcard subscriptions not supported',
};

export function mqttReason(version: number, code: number): string {
  return (version >= 5 ? MQTT5_REASONS[code] : V3[code]) ?? `reason code ${code}`;
}

function refusalHint(meaning: string): string {
  if (/user name or password|authentication/.test(meaning)) {
    return 'The broker refused the user name and password of CONNECT: check them (mosquitto: its password_file; a broker with allow_anonymous false needs a user).';
  }
  if (/authori[sz]ed/.test(meaning)) {
    return (
      'The broker refused this client, for one of these, most likely first: a wrong user name or password (mosquitto answers a bad ' +
      'password with not authorised, not with bad user name or password), a client that must log in and sent no credentials, or an ' +
      "ACL or client id rule that excludes it (mosquitto's acl_file)."
    );
  }
  if (/identifier/.test(meaning))
    return 'The broker refused the client id: an empty id with clean session false, a forbidden character, or a length over its limit.';
  if (/protocol version/.test(meaning))
    return "Client and broker disagree on the MQTT version: set the client's protocolVersion (4 for 3.1.1, 5) to one the broker serves.";
  return 'The broker refused the connection for this reason: its log at this moment says more.';
}

export function inspectConnack(version: number, code: number): MqttFinding {
  const meaning = mqttReason(version, code);
  const hex = version >= 5 ? ` (0x${code.toString(16)})` : ` (return code ${code})`;
  return finding('mqtt-connack-refused', `The MQTT broker refused the CONNECT: ${meaning}${hex}.`, refusalHint(meaning));
}

export function inspectMqttDisconnect(from: string, code: number, reason?: string): MqttFinding {
  const meaning = mqttReason(5, code);
  const said = reason ? ` "${reason}"` : '';
  const hint =
    code === 0x8e
      ? 'Another connection used the same client id: give each client a unique id (two tabs, or a reconnect that raced the old session).'
      : code === 0x8d
        ? 'No packet within 1.5 times the keep-alive: the client stopped sending PINGREQ (a paused tab, a blocked event loop).'
        : 'The session was ended for this reason: the broker log at this moment says more.';
  return finding('mqtt-disconnect', `The ${from} sent an MQTT DISCONNECT: ${meaning} (0x${code.toString(16)})${said}.`, hint);
}
