"""Hanging up one in-flight HTTP request from another thread (the Reports window's Cancel).

A worker blocked waiting for the backend's answer cannot be interrupted, and closing its socket
from another thread neither wakes it nor closes the connection on Linux (the blocked call holds
the file open). `shutdown(SHUT_RDWR)` does both: the read returns, and the backend sees the
client go away (ASGI `http.disconnect`), so it stops the report it was preparing.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any, Final, TypeVar

from desktop.api.errors import cancelled_error

T = TypeVar("T")
CANCEL_POLL = 0.05

# httpcore's trace events that hand over the connection's network stream (a new connection,
# then the same one wrapped in TLS).
_STREAM_EVENTS: Final = frozenset(
    {"connection.connect_tcp.complete", "connection.start_tls.complete"}
)


class Abort:
    """`attach` the request's socket as soon as it exists; `abort()` hangs it up (once or early)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.aborted = False

    def attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sock = sock
            aborted = self.aborted
        if aborted:
            _hang_up(sock)

    def trace(self, name: str, info: dict[str, Any]) -> None:
        """httpx's `trace` request extension (httpcore calls it as the request goes)."""
        if name in _STREAM_EVENTS:
            stream = info.get("return_value")
            if stream is not None:
                self.attach(stream.get_extra_info("socket"))

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            sock = self._sock
        if sock is not None:
            _hang_up(sock)

    def extensions(self) -> dict[str, Any]:
        """Request extensions: `trace` for httpx's transport, `on_socket` for the loopback one."""
        return {"trace": self.trace, "on_socket": self.attach}


def _hang_up(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: nothing left to hang up
        sock.shutdown(socket.SHUT_RDWR)


def cancellable(
    fn: Callable[[], T],
    cancel: threading.Event | None,
    on_cancel: Callable[[], None] | None = None,
) -> T:
    """Run `fn` in a helper thread so a cancel is honoured even while waiting for headers;
    `on_cancel()` then hangs up the request the helper is waiting on."""
    if cancel is None:
        return fn()
    if cancel.is_set():
        raise cancelled_error()
    done = threading.Event()
    box: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as exc:  # carried to the caller's thread
            error.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name="api-report", daemon=True).start()
    while not done.wait(CANCEL_POLL):
        if cancel.is_set():
            if on_cancel is not None:
                on_cancel()
            raise cancelled_error()  # the helper drops its answer when it arrives
    if error:
        raise error[0]
    return box[0]
