/** Every default of the proxy, in one place: the CLI shows these, startProxy applies them. */
export const PROXY_DEFAULTS = {
  target: 'http://localhost:8000',
  port: 8001,
  /** Browsers try ::1 first for "localhost": both loopbacks. */
  hosts: ['127.0.0.1', '::1'] as readonly string[],
  /** Connect + answer time allowed to the backend for an upgrade; connect time for HTTP. */
  upstreamTimeoutMs: 10_000,
  /** Largest request or response head (Node's default). */
  maxHeaderSize: 16_384,
  /** Time a client has to send its first request head. */
  headTimeoutMs: 30_000,
  /** Decoded bytes kept per message; the rest is counted. */
  maxMessageBytes: 1024 * 1024,
  /** How long a message held at a breakpoint waits for a release before it is forwarded as it was. */
  interceptTimeoutMs: 60_000,
  /** Time open sessions get at shutdown. */
  shutdownGraceMs: 5_000,
  sessionIdPrefix: 'ws',
} as const;
