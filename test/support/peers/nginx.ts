/**
 * A real nginx (Debian's package; .ci/run installs it) as a WebSocket reverse proxy on
 * 127.0.0.1, in its own temporary prefix, in the foreground, stopped after the test.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { defer } from '../cleanup.js';
import { until } from '../wait.js';
import { randomPort } from './ports.js';

export const NGINX = '/usr/sbin/nginx';

/** nginx in front of backendPort, with proxy_read_timeout (and proxy_send_timeout) `timeout` (e.g. "1s"); its URL. */
export async function startNginx(backendPort: number, timeout: string): Promise<{ url: string; port: number }> {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} is missing: install Debian's nginx-light package (.ci/run does)`);
  // nginx cannot listen on port 0 and say which port it got: a random port, again with another if it is taken
  // (never one found by listening and closing, which a parallel test's listen(0) could be handed meanwhile).
  for (let attempt = 1; ; attempt++) {
    const port = randomPort();
    try {
      return await startOn(backendPort, timeout, port);
    } catch (err) {
      if (attempt >= 5 || !ADDRESS_IN_USE.test(String(err))) throw err;
    }
  }
}

const ADDRESS_IN_USE = /Address already in use|\(98:/;

async function startOn(backendPort: number, timeout: string, port: number): Promise<{ url: string; port: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wstap-nginx-'));
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    `worker_processes 1;
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://127.0.0.1:${backendPort};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout ${timeout};
      proxy_send_timeout ${timeout};
    }
  }
}
`,
  );
  const child = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  defer(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGQUIT');
      }),
  );
  await until(
    () =>
      new Promise<boolean | undefined>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(child.exitCode !== null ? (Promise.reject(new Error(`nginx exited: ${stderr}`)) as never) : undefined));
      }),
    'nginx to listen',
  );
  return { url: `http://127.0.0.1:${port}`, port };
}
