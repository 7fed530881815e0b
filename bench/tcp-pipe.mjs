// The floor: the smallest faithful TCP proxy Node can run, a socket piped to a socket
// each way (backpressure and half-close from stream.pipe), no parsing, no logging.
// Usage: node bench/tcp-pipe.mjs <backendPort>
// Prints one JSON line {"event":"listening","port":N}.
import net from 'node:net';

const backendPort = Number(process.argv[2]);
const server = net.createServer({ allowHalfOpen: true }, (client) => {
  const upstream = net.connect({ host: '127.0.0.1', port: backendPort, allowHalfOpen: true });
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
});
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  process.stdout.write(`${JSON.stringify({ event: 'listening', port: server.address().port })}\n`);
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
