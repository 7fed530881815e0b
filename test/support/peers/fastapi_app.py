"""A FastAPI backend like the troubleshooting guide's, for wstap's tests against a real stack.

Routes (all WebSocket):
  /ws          accepts (an echo); closes 1008 "Authentication required" when ?token= is missing
  /ws-origin   checks the Origin before accepting: refused (403) unless it is http://localhost:3000
  /ws-auth     checks ?token= before accepting: refused (403) without it
  /ws-noproto  accepts without selecting a subprotocol, whatever the client offered
  /ws-proto    accepts with the first subprotocol the client offered
  /ws-close-reason  accepts, then closes 4001 with the reason given in ?reason=
  /ws-secret   every credential a client can carry, each checked against SECRET: ?token=,
               Authorization: Bearer, the session cookie, the subprotocol pair
               access_token, SECRET (answered with access_token), then a first message
               {"type": "auth", "token": SECRET}; answers {"type": "authed", "session_token": ISSUED}
               and echoes. The first credential that is wrong closes 1008 with a reason naming it.
Any other path has no WebSocket route: Starlette answers an upgrade there with an empty 403.

Started by test/support/peers/fastapi.ts: it binds 127.0.0.1 port 0 and prints the port.
"""
import json
import socket
import sys

import uvicorn
from fastapi import FastAPI, WebSocket

app = FastAPI()
ALLOWED = {"http://localhost:3000"}
SECRET = "opensesame-42"
ISSUED = "issued-7f3a9c"


@app.get("/health")
def health():
    return {"status": "ok"}


async def echo(ws: WebSocket):
    while True:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            return
        if msg.get("text") is not None:
            await ws.send_text(msg["text"])
        elif msg.get("bytes") is not None:
            await ws.send_bytes(msg["bytes"])


@app.websocket("/ws")
async def ws_main(ws: WebSocket):
    await ws.accept()
    if not ws.query_params.get("token"):
        await ws.close(code=1008, reason="Authentication required")
        return
    await echo(ws)


@app.websocket("/ws-origin")
async def ws_origin(ws: WebSocket):
    if ws.headers.get("origin") not in ALLOWED:
        await ws.close(code=1008)
        return
    await ws.accept()
    await echo(ws)


@app.websocket("/ws-auth")
async def ws_auth(ws: WebSocket):
    if not ws.query_params.get("token"):
        await ws.close(code=1008)
        return
    await ws.accept()
    await echo(ws)


@app.websocket("/ws-noproto")
async def ws_noproto(ws: WebSocket):
    await ws.accept()
    await echo(ws)


@app.websocket("/ws-proto")
async def ws_proto(ws: WebSocket):
    offered = ws.scope.get("subprotocols") or []
    await ws.accept(subprotocol=offered[0] if offered else None)
    await echo(ws)


@app.websocket("/ws-close-reason")
async def ws_close_reason(ws: WebSocket):
    await ws.accept()
    await ws.close(code=4001, reason=ws.query_params.get("reason", ""))


@app.websocket("/ws-secret")
async def ws_secret(ws: WebSocket):
    offered = ws.scope.get("subprotocols") or []
    await ws.accept(subprotocol="access_token" if "access_token" in offered else None)
    checks = [
        ("query token", ws.query_params.get("token") == SECRET),
        ("Authorization", ws.headers.get("authorization") == "Bearer " + SECRET),
        ("cookie session", ws.cookies.get("session") == SECRET),
        ("subprotocol", offered == ["access_token", SECRET]),
    ]
    for name, ok in checks:
        if not ok:
            await ws.close(code=1008, reason="bad " + name)
            return
    first = await ws.receive()
    try:
        auth = json.loads(first.get("text") or "")
    except ValueError:
        auth = {}
    if auth.get("type") != "auth" or auth.get("token") != SECRET:
        await ws.close(code=1008, reason="bad auth message")
        return
    await ws.send_text(json.dumps({"type": "authed", "session_token": ISSUED}))
    await echo(ws)


if __name__ == "__main__":
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # Listening before the port is printed: a connection made as soon as the test reads it
    # waits in the backlog until uvicorn accepts, instead of being refused (a 502 at wstap).
    sock.listen(128)
    print(sock.getsockname()[1], flush=True)
    ws_impl = sys.argv[1] if len(sys.argv) > 1 else "websockets"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws=ws_impl))
    server.run(sockets=[sock])
