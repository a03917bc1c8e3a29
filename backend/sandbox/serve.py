"""Serve Demo Ads on its own: `connected-accounts-backend sandbox --port N`."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import uvicorn

from backend.sandbox.admin import write_token_file
from backend.sandbox.app import create_sandbox_app
from backend.sandbox.config import SandboxConfig


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio then sets TCP_NODELAY on every accepted connection;
    # without it each keep-alive response waits ~40 ms for the peer's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


def run_sandbox(
    host: str, port: int, config: SandboxConfig, *, token_file: Path | None = None
) -> None:
    """Serve until interrupted; prints `READY http://host:port` once the socket listens.

    The socket is bound here (port 0 = the OS picks) so the printed URL is the real one.
    With the admin API on, this start's admin token is in `token_file` (0600) before READY.
    """
    try:
        sock = _bind(host, port)
    except OSError as exc:
        raise SystemExit(f"Demo Ads could not listen on {host}:{port}: {exc.strerror}") from None
    bound_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    app = create_sandbox_app(config)
    if config.admin_token and token_file is not None:
        write_token_file(token_file, config.admin_token)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started:
            print(f"READY http://{shown}:{bound_port}", flush=True)
        await task

    try:
        asyncio.run(main())
    finally:
        sock.close()
