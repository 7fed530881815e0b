/** wstap as a library: start a proxy in-process, read its typed session events. */
export { startProxy, ListenError, DEFAULT_HOSTS, type ProxyOptions, type ProxyServer } from './proxy-server.js';
export { createLogger, type LogFormat, type LogLevel, type LoggerOptions, type WstapLogger } from './log/logger.js';
export { createLogSink } from './log/log-sink.js';
export { handshakeEntry, sessionEndEntry, type HandshakeLogEntry, type SessionEndLogEntry } from './log/entries.js';
export type { SessionSink } from './session-bus.js';
export type { Session, SessionEnd, SessionOutcome, Handshake, UpstreamAnswer, UpstreamFailure, Endpoint } from './session.js';
export { FINDING_CATALOG, type Finding, type FindingCode, type Severity } from './finding.js';
export type { Credential, CredentialKind, JwtFacts } from './credentials.js';
export type { HeaderLine, RequestHead, ResponseHead } from './http-head.js';
export { redactTarget, redactHeaders, REDACTED } from './redact.js';
export { parseOriginPattern, type OriginPattern } from './origin-pattern.js';
export { startDemoBackend, demoJwt, DEMO_ALLOWED_ORIGINS, type DemoBackend, type DemoBackendOptions } from './demo/backend.js';
