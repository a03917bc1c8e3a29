"""One-shot loopback redirect receiver for the native-app OAuth flow (RFC 8252 §7.3)."""

from __future__ import annotations

import contextlib
import errno
import hmac
import logging
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from desktop.api.secret import Secret
from desktop.connect.pages import PAGES_DIR, page_response
from desktop.connect.pages import (  # re-exported: desktop.connect.flow words refusals with it
    describe_provider_error as describe_provider_error,
)

log = logging.getLogger(__name__)

MAX_REQUEST_LINE = 8 * 1024
MAX_HEAD = 16 * 1024
READ_TIMEOUT = 5.0  # a silent client (a browser's speculative preconnect) holds only its own thread
MAX_CLIENTS = 32
LINGER = 2.0
IPV4_LOOPBACK = "127.0.0.1"
IPV6_LOOPBACK = "::1"
BIND_ATTEMPTS = 5  # fresh ports to try when another program holds [::1] on the one we got
_NO_IPV6 = (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)


class ReceiverTimeout(Exception):
    """No redirect arrived in time."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"No answer from the browser within {seconds:g} seconds. "
            "Start connecting again when you are ready."
        )


class ReceiverCancelled(Exception):
    """The wait was cancelled (by the user, or because the app is closing)."""

    def __init__(self) -> None:
        super().__init__("Connecting was cancelled.")


@dataclass(frozen=True)
class CallbackResult:
    """The parameters of the one accepted redirect; `code` never shows in a repr."""

    state: str
    code: Secret | None = None
    iss: str | None = None
    error: str | None = None
    error_description: str | None = None
    flow_id: str | None = None
    result: str | None = None  # backend-relayed mode: "success" | "error"
    # Backend-relayed success: the one-time ticket that lets this device claim the grant.
    relay_ticket: Secret | None = None
    extra: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def relayed(self) -> bool:
        return self.result is not None


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class LoopbackReceiver:
    """Listens on 127.0.0.1:<OS-chosen port> (and [::1] on the same port when the host has
    IPv6 loopback) from construction until `close()`."""

    def __init__(self, *, timeout: float = 300.0, pages_dir: Path | None = None) -> None:
        self.timeout = timeout
        self._pages_dir = pages_dir or PAGES_DIR
        try:
            self._sock, self._sock6 = listen_loopback()
        except OSError as exc:
            raise OSError(f"Could not open a local port for the browser's answer: {exc}") from exc
        self._listeners = [s for s in (self._sock, self._sock6) if s is not None]
        self.port: int = self._sock.getsockname()[1]
        self.redirect_uri = f"http://{IPV4_LOOPBACK}:{self.port}/callback"
        # Literal loopback addresses only: no DNS name can be rebound to them.
        self._hosts = (f"{IPV4_LOOPBACK}:{self.port}", f"[{IPV6_LOOPBACK}]:{self.port}")
        self._cond = threading.Condition()
        self._state: str | None = None
        self._result: CallbackResult | None = None
        self._cancelled = False
        self._closed = False
        self._clients: dict[socket.socket, threading.Thread] = {}
        self._answering: set[socket.socket] = set()  # a request was read; the page is on its way
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name="loopback", daemon=True)
        self._thread.start()

    # -- public API -------------------------------------------------------------------------

    def expect(self, state: str) -> None:
        """Accept only a redirect carrying this `state` (RFC 6749 §10.12)."""
        with self._cond:
            self._state = state

    def wait(self) -> CallbackResult:
        """Block until the matching redirect arrives; raise on timeout or cancel."""
        with self._cond:
            done = self._cond.wait_for(
                lambda: self._result is not None or self._cancelled or self._closed,
                timeout=self.timeout,
            )
            if self._result is not None:
                return self._result
            if not done:
                raise ReceiverTimeout(self.timeout)
            raise ReceiverCancelled()

    def cancel(self) -> None:
        """Wake `wait()` with ReceiverCancelled; safe from any thread."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def close(self) -> None:
        """Stop listening and drop any open browser connections."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        for listener in self._listeners:
            listener.close()
        with self._cond:
            clients = dict(self._clients)
            idle = [c for c in clients if c not in self._answering]
        # Silent connections (a browser's speculative preconnect) are cut at once; a socket
        # closed from another thread stays open in the kernel while a recv() blocks on it, so
        # shutdown wakes the handler, which closes it for real. Connections being answered get
        # to finish: the browser must see its page, not a reset.
        _shutdown(idle)
        deadline = time.monotonic() + LINGER + 1
        for handler in clients.values():
            if handler is not threading.current_thread():
                handler.join(timeout=max(0.0, deadline - time.monotonic()))
        _shutdown([c for c, h in clients.items() if h.is_alive()])
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> LoopbackReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serving ----------------------------------------------------------------------------

    def _serve(self) -> None:
        with selectors.DefaultSelector() as sel:
            for listener in self._listeners:
                sel.register(listener, selectors.EVENT_READ, listener)
            sel.register(self._wake_r, selectors.EVENT_READ, None)
            while not self._closed:
                for key, _ in sel.select():
                    if key.data is None or self._closed:
                        return
                    self._accept_one(key.data)

    def _accept_one(self, listener: socket.socket) -> None:
        """One browser connection, on either address: the same one-shot logic answers both."""
        try:
            conn, _addr = listener.accept()
        except OSError:
            return
        if not self._slots.acquire(blocking=False):
            conn.close()
            return
        handler = threading.Thread(target=self._handle, args=(conn,), daemon=True)
        with self._cond:
            self._clients[conn] = handler
        handler.start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            try:
                head = self._read_head(conn)
                with self._cond:
                    self._answering.add(conn)
                status, page, message = self._respond(head)
            except _BadRequest as exc:
                status, page, message = exc.status, "invalid", str(exc)
            self._send(conn, status, page, message)
            # Let the browser close first (it must, after `Connection: close`), so TIME_WAIT
            # stays on its side and the port is free again the moment we close.
            conn.settimeout(LINGER)
            with contextlib.suppress(OSError):
                while conn.recv(4096):
                    pass
        except OSError:
            pass
        finally:
            conn.close()
            with self._cond:
                self._clients.pop(conn, None)
                self._answering.discard(conn)
            self._slots.release()

    def _read_head(self, conn: socket.socket) -> bytes:
        deadline = time.monotonic() + READ_TIMEOUT
        buf = b""
        while b"\r\n\r\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OSError("client too slow")
            conn.settimeout(remaining)
            chunk = conn.recv(4096)
            if not chunk:
                raise OSError("client went away")
            buf += chunk
            line_end = buf.find(b"\r\n")
            if (line_end < 0 and len(buf) > MAX_REQUEST_LINE) or line_end > MAX_REQUEST_LINE:
                raise _BadRequest(414, "This address is too long.")
            if len(buf) > MAX_HEAD and b"\r\n\r\n" not in buf[:MAX_HEAD]:
                raise _BadRequest(431, "This request is too large.")
        return buf.split(b"\r\n\r\n", 1)[0]

    def _respond(self, head: bytes) -> tuple[int, str, str]:
        try:
            text = head.decode("ascii")
        except UnicodeDecodeError:
            raise _BadRequest(400, "This request is not valid.") from None
        request_line, *header_lines = text.split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400, "This request is not valid.")
        method, target, _version = parts
        # RFC 9112 §3.2.2: only origin-form targets here (an absolute-form one names a host).
        if not target.startswith("/"):
            raise _BadRequest(400, "This request is not valid.")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            # RFC 9112 §5.1: no whitespace between a field name and the colon.
            if not sep or not name or name != name.strip():
                raise _BadRequest(400, "This request is not valid.")
            key = name.lower()
            # RFC 9112 §3.2: more than one Host field is a 400.
            if key == "host" and key in headers:
                raise _BadRequest(400, "This request is not valid.")
            headers[key] = value.strip()
        # DNS rebinding: a page on another origin that resolves to 127.0.0.1 sends its own Host.
        if headers.get("host", "").lower() not in self._hosts:
            raise _BadRequest(400, "This page only answers at its own address.")
        url = urlsplit(target)
        if url.path != "/callback":
            return 404, "invalid", "There is nothing here."
        if method != "GET":
            return 405, "invalid", "This page only answers the browser's redirect."
        purpose = headers.get("sec-purpose", "") + headers.get("purpose", "")
        if "prefetch" in purpose.lower() or "prerender" in purpose.lower():
            return 503, "invalid", "Not prefetched; open the page to continue."
        try:
            pairs = parse_qsl(url.query, keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            raise _BadRequest(400, "This address is not valid.") from None
        params = dict(pairs)
        if len(params) != len(pairs):  # RFC 6749 §3.1: no parameter more than once
            raise _BadRequest(400, "This address repeats a parameter.")
        return self._accept(params)

    def _accept(self, params: dict[str, str]) -> tuple[int, str, str]:
        state = params.get("state", "")
        with self._cond:
            expected = self._state
            matches = expected is not None and hmac.compare_digest(
                state.encode(), expected.encode()
            )
            if not matches:
                return (
                    400,
                    "invalid",
                    (
                        "This sign-in answer does not belong to the connection in progress. "
                        "Go back to Connected Accounts and start connecting again if needed."
                    ),
                )
            if self._result is not None:
                # A second identical redirect (IPv4 then IPv6, a reload): never forwarded twice.
                return 200, "already", "This connection was already completed."
            if self._cancelled or self._closed:
                return 400, "invalid", "Connecting was cancelled in Connected Accounts."
            code = params.get("code")
            relayed = params.get("result")
            ticket = params.get("relay_ticket")
            if not code and not params.get("error") and relayed not in ("success", "error"):
                return 400, "invalid", "The answer from the sign-in page was incomplete."
            if relayed == "success" and not (ticket and params.get("flow_id")):
                # design rule "Backend-relayed redirect": a relayed success carries the flow and
                # the one-time ticket that lets this device claim the grant.
                return 400, "invalid", "The answer from the sign-in page was incomplete."
            known = {"code", "state", "iss", "error", "error_description", "flow_id", "result",
                     "relay_ticket"}  # fmt: skip
            self._result = CallbackResult(
                state=state,
                code=Secret(code) if code else None,
                iss=params.get("iss"),
                error=params.get("error"),
                error_description=params.get("error_description"),
                flow_id=params.get("flow_id"),
                result=relayed,
                relay_ticket=Secret(ticket) if ticket else None,
                extra={k: v for k, v in params.items() if k not in known},
            )
            self._cond.notify_all()
            result = self._result
        if result.error or result.result == "error":
            return 200, "failure", describe_provider_error(result.error, result.error_description)
        return 200, "success", "Your account is being connected. Return to Connected Accounts."

    def _send(self, conn: socket.socket, status: int, page: str, message: str) -> None:
        conn.settimeout(READ_TIMEOUT)
        conn.sendall(page_response(self._pages_dir, status, page, message))


def _shutdown(conns: list[socket.socket]) -> None:
    for conn in conns:
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)


def _listen(family: socket.AddressFamily, address: tuple[str, int]) -> socket.socket:
    """A listening TCP socket on `address`, without SO_REUSEADDR (RFC 8252 Appendix B)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family == socket.AF_INET6:
            # ::1 only: the IPv4 side is a socket of its own, bound to 127.0.0.1 alone.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(16)
    except OSError:
        sock.close()
        raise
    return sock


def listen_loopback() -> tuple[socket.socket, socket.socket | None]:
    """127.0.0.1 on a port the OS picks, and [::1] on the same port when the host has IPv6
    loopback (else None), so no other program can take the IPv6 side of the redirect port and a
    browser that goes there reaches this receiver. [::1] busy: another port, a few times."""
    tried: list[socket.socket] = []  # held until the end, so each try gets a port of its own
    try:
        for _ in range(BIND_ATTEMPTS):
            v4 = _listen(socket.AF_INET, (IPV4_LOOPBACK, 0))
            tried.append(v4)
            try:
                v6 = _listen(socket.AF_INET6, (IPV6_LOOPBACK, v4.getsockname()[1]))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    continue
                if exc.errno not in _NO_IPV6:
                    raise
                log.info("no IPv6 loopback (%s); listening on 127.0.0.1 only", exc.strerror)
                v6 = None
            tried.remove(v4)
            return v4, v6
        raise OSError(
            errno.EADDRINUSE,
            f"other programs held [{IPV6_LOOPBACK}] on {BIND_ATTEMPTS} ports in a row",
        )
    finally:
        for sock in tried:
            sock.close()
