/**
 * Every inspector, by phase: the one place findings come from. The proxy, `wstap check`
 * and the frame tap call these; none of them writes finding prose of its own. Adding an
 * inspector is one file and one line here; its return type names the codes of its phase,
 * so an inspector cannot raise a finding of another phase.
 */
import type { Finding, FindingCodeOf, FindingPhase } from '../session/finding.js';
import type { Handshake } from '../session/session.js';
import { inspectAnswer } from './answer.js';
import { inspectProbedRejection } from './rejection.js';
import { inspectClose } from './close.js';
import { localhostInContainerFinding } from './environment/container.js';
import { diagnoseEnv } from './environment/env-file.js';
import { inspectAuth } from './handshake/auth.js';
import { inspectOrigin } from './handshake/origin.js';
import { inspectHandshakeValidity } from './handshake/validity.js';
import { inspectViolation } from './protocol.js';
import { inspectReconnectLoop } from './patterns/reconnect.js';
import { inspectIdleTimeout } from './patterns/idle.js';
import { inspectHeartbeat } from './patterns/heartbeat.js';
import { inspectSlowConsumer } from './patterns/slow-consumer.js';
import { inspectConnectError, inspectEngineIoError, inspectNoUpgrade } from './app/socketio.js';
import { inspectGraphqlClose, inspectInitUnacked, inspectOperationError } from './app/graphql.js';
import { inspectStompError, inspectStompHeartbeat } from './app/stomp.js';
import { inspectConnack, inspectMqttDisconnect } from './app/mqtt.js';
import { inspectJsonRpcErrors, inspectUnanswered } from './app/operations.js';
import type { HandshakeInspector, InspectContext } from './types.js';
import { inspectHealthAnswer, inspectUpstreamFailure } from './upstream.js';

type PhaseFindings<P extends FindingPhase> = Finding<FindingCodeOf<P>>;
type InspectorOf<P extends FindingPhase> = (
  // biome-ignore lint/suspicious/noExplicitAny: the arguments differ per inspector; only the result is constrained.
  ...args: any[]
) => PhaseFindings<P> | readonly PhaseFindings<P>[] | { findings: PhaseFindings<P>[] } | undefined;

/** The inspectors of each phase, in the order their findings are listed. */
export const INSPECTORS = {
  handshake: { validity: inspectHandshakeValidity, origin: inspectOrigin, auth: inspectAuth },
  answer: { answer: inspectAnswer, probedRejection: inspectProbedRejection },
  upstream: { connection: inspectUpstreamFailure, health: inspectHealthAnswer },
  close: { close: inspectClose },
  protocol: { violation: inspectViolation },
  app: {
    connectError: inspectConnectError,
    engineIoError: inspectEngineIoError,
    noUpgrade: inspectNoUpgrade,
    graphqlClose: inspectGraphqlClose,
    initUnacked: inspectInitUnacked,
    operationError: inspectOperationError,
    stompError: inspectStompError,
    stompHeartbeat: inspectStompHeartbeat,
    connack: inspectConnack,
    mqttDisconnect: inspectMqttDisconnect,
    jsonRpcErrors: inspectJsonRpcErrors,
    unanswered: inspectUnanswered,
  },
  environment: { container: localhostInContainerFinding, envFile: diagnoseEnv },
  pattern: { reconnectLoop: inspectReconnectLoop, idleTimeout: inspectIdleTimeout, heartbeat: inspectHeartbeat, slowConsumer: inspectSlowConsumer },
} as const satisfies { [P in FindingPhase]: Record<string, InspectorOf<P>> };

const handshakeInspectors: readonly HandshakeInspector[] = Object.values(INSPECTORS.handshake);

/** The findings of a client's upgrade request, from every handshake inspector in order. */
export function inspectHandshake(hs: Handshake, ctx: InspectContext): Finding<FindingCodeOf<'handshake'>>[] {
  const out: Finding<FindingCodeOf<'handshake'>>[] = [];
  for (const inspect of handshakeInspectors) out.push(...inspect(hs, ctx));
  return out;
}

export type { AnswerInspector, HandshakeInspector, InspectContext } from './types.js';
export { acceptProblems, expectedAccept, inspectAnswer } from './answer.js';
export { handshakeProblems, inspectHandshakeValidity, invalidHandshakeFinding } from './handshake/validity.js';
export { inspectClose } from './close.js';
export { inspectProbedRejection, namedCause, rejectionCandidates, type ProbedRejection, type RejectionCause } from './rejection.js';
export { inspectViolation } from './protocol.js';
export { inspectReconnectLoop, LOOP_GAP_MS, LOOP_MIN, type AttemptEnd, type ReconnectLoop } from './patterns/reconnect.js';
export { inspectHeartbeat, MISSED_MIN, type Heartbeat } from './patterns/heartbeat.js';
export { inspectSlowConsumer, STUCK_MS, type SlowConsumer } from './patterns/slow-consumer.js';
export { IDLE_MIN, inspectIdleTimeout, KNOWN_IDLE_TIMEOUTS, suspectsFor, type IdleCluster } from './patterns/idle.js';
export { inspectHealthAnswer, inspectUpstreamFailure } from './upstream.js';
export { detectContainer, isLocalhost, localhostInContainerFinding, type ContainerInfo } from './environment/container.js';
export { diagnoseEnv, parseEnvFile, type EnvDiagnosis } from './environment/env-file.js';
export { inspectConnectError, inspectEngineIoError, inspectNoUpgrade } from './app/socketio.js';
export { GRAPHQL_CLOSE_CODES, inspectGraphqlClose, inspectInitUnacked, inspectOperationError } from './app/graphql.js';
export { inspectStompError, inspectStompHeartbeat } from './app/stomp.js';
export { inspectConnack, inspectMqttDisconnect, mqttReason } from './app/mqtt.js';
export { inspectJsonRpcErrors, inspectUnanswered, jsonRpcCodeMeaning, type RpcErrorCount, type Unanswered } from './app/operations.js';
