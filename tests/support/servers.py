"""Run a real ASGI app under uvicorn on a loopback port the OS picks, in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.support import sandbox_admin


def bind_loopback(host: str = "127.0.0.1") -> socket.socket:
    """A listening socket on a port the OS picks (bind first, so the URL is known up front)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY
    sock.bind((host, 0))
    sock.listen(1024)
    return sock


class _Server(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # The backend ends its open event streams here; they would hold the shutdown up.
        before = getattr(getattr(self.config.app, "state", None), "before_shutdown", None)
        if callable(before):
            before()
        await super().shutdown(sockets=sockets)


class UvicornThread:
    """A real uvicorn server on 127.0.0.1:<free port>; `url` is its base URL."""

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        log_level: str = "warning",
        sock: socket.socket | None = None,
    ) -> None:
        if sock is None:
            sock = bind_loopback(host)
        self._sock = sock
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        sandbox_admin.remember_app(self.url, app)  # Demo Ads admin token, if app has one
        config = uvicorn.Config(app, log_level=log_level, lifespan="on", access_log=False)
        self.server = _Server(config)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn:{self.port}", daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self._sock]))

    def start(self) -> UvicornThread:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


@contextmanager
def serve(app: Any) -> Iterator[UvicornThread]:
    """`with serve(app) as server: httpx.get(server.url + "/path")`."""
    server = UvicornThread(app).start()
    try:
        yield server
    finally:
        server.stop()
