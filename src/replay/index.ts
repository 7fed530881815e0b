/** wstap/replay: recorded sessions replayed as a client, served as a mock backend, and as vitest fixtures. */
export { replayRecording, formatReplay, type ReplayOptions, type ReplayResult, type SessionReplayResult, type ReplayDiff } from './replay-client.js';
export { createReplayServer, type ReplayServer, type ReplayServerOptions, type ReplayServerEvent, type UnexpectedMessage } from './replay-server.js';
export { compareMessage, type MessageDiff } from './compare.js';
export { wsFixture, type WsFixture, type FixtureOptions, type FixtureMode } from './fixture.js';
