"""The baseline for backend_overhead: a bare FastAPI `async def` endpoint making the same upstream
call (Demo Ads insights with a bearer token) with one shared httpx.AsyncClient, served by uvicorn
with the backend's own settings. `python -m bench._bare_proxy UPSTREAM_URL TOKEN` prints READY.

The best a bare endpoint does: its socket is made exactly as backend/cli.py `_bind` makes the
backend's (and as `uvicorn.run(host=…, port=…)` does): `socket(family, SOCK_STREAM, IPPROTO_TCP)`,
so asyncio sets TCP_NODELAY on every accepted connection. Until this commit it was made with
proto 0, so each keep-alive response waited ~40 ms for the client's delayed ACK and the backend
measured 1.4-1.8x a "bare" proxy doing less work. uvicorn settings as backend/cli.py cmd_serve:
no log config, no access log, the same loop ("auto": uvloop when installed), the same httptools
protocol (the backend's subclass adds only a head timer), the same concurrency limit and backlog."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

from backend.cli import _bind
from backend.config import Settings


def create_app(upstream: str, token: str) -> FastAPI:
    clients: list[httpx.AsyncClient] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        clients.append(httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {token}"}))
        yield
        await clients[0].aclose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/report/{account}")
    async def report(account: str, request: Request) -> Response:
        q = request.query_params
        params = {"since": q["since"], "until": q["until"], "level": q.get("level", "account"),
                  "limit": "500"}  # fmt: skip
        upstream_resp = await clients[0].get(
            f"{upstream}/api/accounts/{account}/insights", params=params
        )
        return Response(upstream_resp.content, media_type="application/json")

    return app


def main() -> None:
    upstream, token = sys.argv[1], sys.argv[2]
    defaults = Settings.model_fields
    sock = _bind("127.0.0.1", 0)  # the backend's own: IPPROTO_TCP, so TCP_NODELAY per connection
    sock.listen(defaults["backlog"].default)
    port = sock.getsockname()[1]
    # The same uvicorn settings as backend/cli.py cmd_serve (loop "auto" there too).
    config = uvicorn.Config(
        create_app(upstream, token), log_config=None, access_log=False, lifespan="on",
        loop="auto", http="httptools", limit_concurrency=defaults["limit_concurrency"].default,
    )  # fmt: skip

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                print(f"READY http://127.0.0.1:{port}", flush=True)

    asyncio.run(_Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
