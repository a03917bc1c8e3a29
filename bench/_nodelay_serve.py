"""`python -m bench._nodelay_serve serve|sandbox …`: backend.cli with TCP_NODELAY set explicitly
on the listening socket of the backend and of Demo Ads (accepted sockets inherit it).

A what-if kept for comparison: before commit 390fc9b, backend/cli.py `_bind` and
backend/sandbox/serve.py `_bind` made their sockets with proto 0, so asyncio's transport never set
TCP_NODELAY and a keep-alive response written in two pieces waited for the client's delayed ACK
(~40 ms). Since 390fc9b the shipped servers set it themselves and both figures should agree."""

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
