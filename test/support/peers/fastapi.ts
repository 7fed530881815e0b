/**
 * A real FastAPI/uvicorn backend (Debian's python3-fastapi, python3-uvicorn, python3-websockets;
 * .ci/run installs them) on 127.0.0.1 and a port it picks itself: fastapi_app.py prints it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface FastApiBackend {
  port: number;
  /** http://127.0.0.1:PORT */
  url: string;
  /** ws://127.0.0.1:PORT + path */
  ws(path: string): string;
  close(): Promise<void>;
}

const APP = fileURLToPath(new URL('./fastapi_app.py', import.meta.url));
export const PYTHON = '/usr/bin/python3';

/** wsImpl: uvicorn's WebSocket implementation, 'websockets' (the default) or 'wsproto'. */
export function startFastApi(wsImpl: 'websockets' | 'wsproto' = 'websockets'): Promise<FastApiBackend> {
  const child: ChildProcess = spawn(PYTHON, [APP, wsImpl], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the FastAPI backend printed no port within 15 s: ${stderr}`));
    }, 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(
        new Error(
          `the FastAPI backend exited with ${code} before it listened (install python3-fastapi python3-uvicorn python3-websockets): ${stderr}`,
        ),
      );
    });
    child.stdout!.once('data', (d: Buffer) => {
      clearTimeout(timer);
      const port = Number(d.toString().trim().split('\n')[0]);
      if (!Number.isInteger(port) || port <= 0) return reject(new Error(`unexpected output from the FastAPI backend: ${d.toString()}`));
      child.removeAllListeners('exit');
      resolve({
        port,
        url: `http://127.0.0.1:${port}`,
        ws: (path) => `ws://127.0.0.1:${port}${path}`,
        close: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 3000).unref();
          }),
      });
    });
  });
}

/** What /ws-secret checks every credential against (fastapi_app.py SECRET). */
export const FASTAPI_SECRET = 'opensesame-42';
/** The session_token /ws-secret answers with once authenticated (fastapi_app.py ISSUED). */
export const FASTAPI_ISSUED = 'issued-7f3a9c';
