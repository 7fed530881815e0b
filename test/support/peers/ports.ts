/**
 * Ports for the peers that cannot listen on port 0 and say which port they got (nginx,
 * mosquitto, RabbitMQ): a random one, and another one when it is taken, never a port found by
 * listening and closing (a parallel test's listen(0) could be handed it meanwhile).
 */
import net from 'node:net';

/** A port from 20000–60000 to try. */
export const randomPort = (): number => 20_000 + Math.floor(Math.random() * 40_001);

/** Whether something accepts connections on 127.0.0.1:port. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
