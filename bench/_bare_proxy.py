"""The baseline for backend_overhead: a bare FastAPI `async def` endpoint making the same upstream
call (Demo Ads insights with a bearer token) with one shared httpx.AsyncClient, served by uvicorn
with the backend's own settings. `python -m bench._bare_proxy UPSTREAM_URL TOKEN [--nodelay]`
prints READY (`--nodelay`: TCP_NODELAY on the listening socket, as bench/_nodelay_serve.py)."""

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
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if "--nodelay" in sys.argv[3:]:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    port = sock.getsockname()[1]
    # The same uvicorn settings as backend/cli.py cmd_serve.
    config = uvicorn.Config(
        create_app(upstream, token), log_config=None, access_log=False, lifespan="on"
    )

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                print(f"READY http://127.0.0.1:{port}", flush=True)

    asyncio.run(_Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
