/** wstap/recording: the recording format, its loader (with migrations), HAR export and import, and reports. */
export { loadRecording, parseRecording, RecordingError, MIGRATIONS } from './loader.js';
export { RECORDING_FORMAT, RECORDING_VERSION, payloadOf } from './format.js';
export type { Recording, RecordedSession, RecordingEvent, RecordingHeader, SessionOpenEvent, MessageEvent, SessionCloseEvent } from './format.js';
export { recordingToHar, harToRecording, type Har, type HarEntry } from './har.js';
export { reportRecording, formatReport, type SessionReport } from './report.js';
