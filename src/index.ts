/** wstap as a library: start a proxy in-process, read its typed session events. */
export { startProxy, ListenError, DEFAULT_HOSTS, type ProxyOptions, type ProxyServer } from './proxy/server.js';
export { createLogger, type LogFormat, type LogLevel, type LoggerOptions, type WstapLogger } from './log/logger.js';
export { createLogSink } from './sinks/log-sink.js';
export { handshakeEntry, sessionEndEntry, type HandshakeLogEntry, type SessionEndLogEntry } from './log/entries.js';
export type { SessionSink } from './sinks/bus.js';
export type { Session, SessionEnd, SessionOutcome, Handshake, UpstreamAnswer, UpstreamFailure, Endpoint } from './session/session.js';
export { FINDING_CATALOG, type Finding, type FindingCode, type Severity } from './session/finding.js';
export type { Credential, CredentialKind, JwtFacts } from './secrets/credentials.js';
export type { HeaderLine, RequestHead, ResponseHead } from './wire/http-head.js';
export { redactTarget, redactHeaders, REDACTED } from './secrets/redact.js';
export { parseOriginPattern, type OriginPattern } from './wire/origin-pattern.js';
export { startDemoBackend, demoJwt, DEMO_ALLOWED_ORIGINS, type DemoBackend, type DemoBackendOptions } from './demo/backend.js';
export type { WsMessage, Side, MessageKind, ProtocolViolation } from './session/message.js';
export type { CloseSummary, DirectionStats, TapSummary } from './tap/frame-tap.js';
export type { Percentiles } from './tap/latency.js';
// Recording and replay
export { loadRecording, parseRecording, RecordingError, MIGRATIONS } from './recording/loader.js';
export { RECORDING_FORMAT, RECORDING_VERSION, payloadOf } from './recording/format.js';
export type { Recording, RecordedSession, RecordingEvent, RecordingHeader, SessionOpenEvent, MessageEvent, SessionCloseEvent } from './recording/format.js';
export { Recorder, type RecorderOptions, type PayloadMode } from './sinks/recorder.js';
export { recordingToHar, harToRecording, type Har, type HarEntry } from './recording/har.js';
export { reportRecording, formatReport, type SessionReport } from './recording/report.js';
export { replayRecording, formatReplay, type ReplayOptions, type ReplayResult, type SessionReplayResult, type ReplayDiff } from './replay/replay-client.js';
export { createReplayServer, type ReplayServer, type ReplayServerOptions, type UnexpectedMessage } from './replay/replay-server.js';
export { compareMessage, type MessageDiff } from './replay/compare.js';
export { wsFixture, type WsFixture, type FixtureOptions, type FixtureMode } from './replay/fixture.js';
