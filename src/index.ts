/**
 * wstap as a library: start a proxy in-process, compose its sinks and message hooks, read its
 * typed session events. Recordings and replay are their own entries: wstap/recording and
 * wstap/replay.
 */
export { PROXY_DEFAULTS } from './proxy/defaults.js';
export { ListenError, startProxy, type ProxyOptions, type ProxyServer } from './proxy/server.js';
export { createLogger, type LogFormat, type LogLevel, type LoggerOptions, type WstapLogger } from './log/logger.js';
// Sinks: where session events go.
export type { SessionSink } from './sinks/bus.js';
export { createLogSink, type LogSinkOptions } from './sinks/log-sink.js';
export { Recorder, type RecorderOptions, type PayloadMode } from './sinks/recorder.js';
export type { HandshakeView, EndView, HeaderView, CredentialView } from './views/views.js';
// The message seam.
export type { HookMessage, HookVerdict, MessageHandler, MessageHook, OutMessage, SessionControl } from './tunnel/hooks.js';
export { FaultRules, type RuleEntry } from './act/faults.js';
export { parseRule, RuleError, type FaultRule, type FaultAction } from './act/rules.js';
export type { SessionAction, ActionKind, AlteredCounts } from './session/action.js';
// The session record.
export type { Session, SessionEnd, SessionOutcome, Handshake, UpstreamAnswer, UpstreamFailure, Endpoint, TunnelSide } from './session/session.js';
export type { WsMessage, Side, MessageKind, MessageLatency, ProtocolViolation, ProtocolRule } from './session/message.js';
export type { CloseSummary, DirectionStats, LatencySummary, Percentiles, TapSummary } from './session/summary.js';
export type { Credential, CredentialKind, JwtFacts } from './secrets/credentials.js';
export type { HeaderLine, RequestHead, ResponseHead } from './wire/http-head.js';
// Findings: the catalogue, and the rules of RFC 6455 a protocol-error names.
export { FINDING_CATALOG, type Finding, type FindingCode, type FindingPhase, type Severity } from './session/finding.js';
export { PROTOCOL_RULES } from './tap/frame-rules.js';
export { redactTarget, redactHeaders, REDACTED } from './secrets/redact.js';
export { parseOriginPattern, type OriginPattern } from './wire/origin-pattern.js';
