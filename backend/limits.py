"""Bounded requests: a body cap, read timeouts for the head and the body.

Without them one client can make the backend hold unbounded memory (a 128 MiB body is read
into memory before any route looks at it) or a connection forever (a head or body that
stops half way: uvicorn only times out idle keep-alive connections).

- `BoundedRequests` (ASGI middleware) refuses a declared Content-Length over the cap before
  the app runs, counts the bytes of a chunked body as they arrive, and refuses a body that
  goes silent for `read_timeout_s`. Its answers are RFC 9457 problems with
  `Connection: close`, so the rest of the body is never read.
- `head_timeout_protocol` gives uvicorn a protocol class that closes a connection whose
  request head is not complete within the same timeout (from connect, or from the first
  byte of the next request on a kept-alive connection).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from backend.errors import problem

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_READ_TIMEOUT_S = 15.0


def _body_headers(scope: Scope) -> tuple[int | None, bool]:
    """(the Content-Length header's value, -1 when it is present but not a number; whether
    the request has a body at all: a length or Transfer-Encoding), in one pass."""
    length: int | None = None
    chunked = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and length is None:
            try:
                length = int(value)
            except ValueError:
                length = -1
        elif name == b"transfer-encoding":
            chunked = True
    return length, length is not None or chunked


class BoundedRequests:
    """Cap request bodies at `max_body_bytes` (413) and give up on a stalled body (408)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.read_timeout_s = read_timeout_s

    def _too_large(self) -> Any:
        kib = self.max_body_bytes // 1024
        return problem(
            413,
            "payload_too_large",
            "Request too large",
            f"Request bodies are limited to {kib} KiB; this one is larger.",
        )

    def _timed_out(self) -> Any:
        return problem(
            408,
            "request_timeout",
            "Request timeout",
            f"The request body stopped arriving for {self.read_timeout_s:g} s; "
            "the connection is closed. Send the request again.",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, has_body = _body_headers(scope)
        if declared is not None and (declared < 0 or declared > self.max_body_bytes):
            await self._refuse(scope, receive, send, self._too_large())
            return
        if not has_body:
            # Nothing to cap or time out (most GETs): the server has the whole (empty) body
            # once the head is in, so no wrapper and no timer per request
            # (bench/backend_overhead.py).
            await self.app(scope, receive, send)
            return
        received = 0
        body_done = False
        refused = False
        started = False

        async def refuse(response: Any) -> None:
            nonlocal refused
            refused = True
            if not started:
                await self._refuse(scope, receive, send, response)

        async def guarded_receive() -> Message:
            nonlocal received, body_done
            if refused:
                return {"type": "http.disconnect"}
            if body_done:
                # Past the body, receive() only waits for a disconnect (streams): no timeout.
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.read_timeout_s)
            except TimeoutError:
                log.info("closed a connection whose request body stalled")
                await refuse(self._timed_out())
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    await refuse(self._too_large())
                    return {"type": "http.disconnect"}
                body_done = not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # our own answer went out; the app's (to a "disconnect") is moot
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, guarded_receive, guarded_send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, response: Any) -> None:
        # Connection: close makes uvicorn close the socket after the answer instead of
        # reading (and discarding) the rest of a huge or stalled body.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def head_timeout_protocol(timeout_s: float = DEFAULT_READ_TIMEOUT_S) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, closing a connection whose head stalls for `timeout_s`."""

    class HeadTimeoutProtocol(HttpToolsProtocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm_head_timer()

        def on_headers_complete(self) -> None:
            self._cancel_head_timer()
            super().on_headers_complete()

        def _arm_head_timer(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(timeout_s, self._on_head_timeout)

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _on_head_timeout(self) -> None:
            self._head_timer = None
            if self.transport.is_closing():
                return
            if self.cycle is None or self.cycle.response_complete:
                # RFC 9110 §15.5.9: 408 tells the client why before the connection closes.
                self.transport.write(
                    b"HTTP/1.1 408 Request Timeout\r\n"
                    b"content-length: 0\r\nconnection: close\r\n\r\n"
                )
            self.transport.close()

    return HeadTimeoutProtocol
