"""`python -m bench._nodelay_serve serve|sandbox …`: backend.cli with TCP_NODELAY on the
listening socket of the backend and of Demo Ads (accepted sockets inherit it). A what-if for the
benchmarks: backend/cli.py `_bind` and backend/sandbox/serve.py `_bind` create their socket with
proto 0, so asyncio's transport never sets TCP_NODELAY, and a keep-alive response written in two
pieces waits for the client's delayed ACK (~40 ms)."""

from __future__ import annotations

import socket
import sys

import backend.cli as cli
import backend.sandbox.serve as sandbox_serve

_original = cli._bind
_original_sandbox = sandbox_serve._bind


def _bind(host: str, port: int) -> socket.socket:
    sock = _original(host, port)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _bind_sandbox(host: str, port: int) -> socket.socket:
    sock = _original_sandbox(host, port)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


cli._bind = _bind
sandbox_serve._bind = _bind_sandbox

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
