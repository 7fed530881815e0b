// The benchmark's backend: a ws echo server on 127.0.0.1 (a separate process).
// Usage: node bench/echo-server.mjs [--deflate]
// Prints one JSON line {"event":"listening","port":N}; echoes every message as it came
// (text as text, binary as binary); exits on SIGTERM or when stdin closes.
import { WebSocketServer } from 'ws';

const deflate = process.argv.includes('--deflate');
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  backlog: 4096,
  clientTracking: false,
  maxPayload: 16 * 1024 * 1024,
  // threshold 0: every message is compressed, whatever its size.
  perMessageDeflate: deflate ? { threshold: 0 } : false,
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => {
  process.stdout.write(`${JSON.stringify({ event: 'listening', port: wss.address().port, deflate })}\n`);
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
