/** Phase app, STOMP: ERROR frames and heart-beats that stopped. */
import type { Finding, FindingCodeOf } from '../../session/finding.js';
import { finding } from '../finding.js';

type StompFinding = Finding<FindingCodeOf<'app'>>;

function errorHint(text: string): string {
  if (/login|passcode|credential|authenticat|password|refused/i.test(text)) {
    return 'The broker refused the credentials of CONNECT: check the login and passcode (RabbitMQ: a user with access to the virtual host; Spring: the ChannelInterceptor that authenticates CONNECT).';
  }
  if (/access|permission|authori[sz]|denied/i.test(text)) {
    return 'The user may not use this destination or virtual host: grant the permission on the broker (RabbitMQ: rabbitmqctl set_permissions), or send to one it may.';
  }
  if (/destination|not.?found|no.?queue|no.?exchange/i.test(text)) {
    return 'The destination does not exist or has the wrong form: RabbitMQ wants /queue/<name>, /topic/<key>, /exchange/<name>/<key> or /amq/queue/<name>.';
  }
  if (/heart.?beat/i.test(text))
    return 'The broker missed heart-beats: the client stopped sending them (a paused tab, a blocked event loop) or the interval is shorter than the network allows.';
  return 'The broker ended the session with this ERROR frame: its message header and body say why; a STOMP broker closes the connection after it.';
}

/** An ERROR frame: its message header, and its body when that says more (RabbitMQ: "Bad CONNECT", then "Access refused for user ..."). */
export function inspectStompError(message: string, command?: string, body = ''): StompFinding {
  const after = command ? ` after the client's ${command}` : '';
  const first = body.split('\n')[0]!.trim();
  const more = first && first !== message ? ` (${first.slice(0, 200)})` : '';
  return finding('stomp-error', `The STOMP broker sent ERROR${after}: "${message}"${more}.`, errorHint(`${message}\n${body}`));
}

export function inspectStompHeartbeat(side: string, intervalMs: number, gapMs: number, ended: boolean): StompFinding {
  const then = ended ? ', then the connection ended' : '';
  return finding(
    'stomp-heartbeat-missed',
    `The ${side} negotiated STOMP heart-beats every ${intervalMs} ms and then sent nothing for ${Math.round(gapMs)} ms${then}.`,
    `The ${side} stopped heart-beating: a blocked event loop or a paused browser tab (timers are throttled in background tabs), a dead peer, or an intermediary holding the stream; a heart-beat interval of a few seconds more than the network's latency avoids false alarms.`,
  );
}
