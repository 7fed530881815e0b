// The benchmark's backend: a ws echo server on 127.0.0.1 (a separate process).
// Usage: node bench/echo-server.mjs [--deflate]
// Prints one JSON line {"event":"listening","port":N}; echoes every message as it came
// (text as text, binary as binary), a Socket.IO event with an ack id as its ack; exits on SIGTERM or when stdin closes.
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
// A Socket.IO event with an ack id (42<id>[...]) is answered as a Socket.IO server acks it: 43<id>[...], the same size.
const isSocketIoEvent = (data, isBinary) => !isBinary && data[0] === 0x34 && data[1] === 0x32 && data[2] >= 0x30 && data[2] <= 0x39;
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    if (isSocketIoEvent(data, isBinary)) {
      const ack = Buffer.from(data);
      ack[1] = 0x33;
      return ws.send(ack, { binary: false });
    }
    ws.send(data, { binary: isBinary });
  });
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
