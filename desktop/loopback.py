"""One-shot loopback redirect receiver for the native-app OAuth flow (RFC 8252 §7.3)."""

from __future__ import annotations

import contextlib
import hmac
import html
import logging
import re
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from desktop.api.secret import Secret

log = logging.getLogger(__name__)

PAGES_DIR = Path(__file__).resolve().parent.parent / "resources" / "pages"
MAX_REQUEST_LINE = 8 * 1024
MAX_HEAD = 16 * 1024
READ_TIMEOUT = 5.0  # a silent client (a browser's speculative preconnect) holds only its own thread
MAX_CLIENTS = 32
LINGER = 2.0
# A foreign origin may not load anything into these pages (and they load nothing themselves).
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           414: "URI Too Long", 431: "Request Header Fields Too Large",
           503: "Service Unavailable"}  # fmt: skip
FALLBACK_PAGE = (
    "<!doctype html><meta charset='utf-8'><title>Connected Accounts</title>"
    "<p>{{MESSAGE}}</p><p>You can close this tab.</p>"
)


@dataclass(frozen=True)
class Outcome:
    """How the page after a redirect looks for one outcome (resources/pages/outcome.html)."""

    title: str
    hint: str
    accent: str  # CSS colour
    mark: str  # HTML: the one value put in unescaped


OUTCOMES = {
    "success": Outcome(
        "Consent received",
        "You can close this tab; Connected Accounts takes it from here.",
        "#1f8a4c",
        "&#10003;",
    ),
    "failure": Outcome(
        "Not connected",
        "You can close this tab and try again from Connected Accounts.",
        "#c0392b",
        "!",
    ),
    "already": Outcome(
        "Already done",
        "Nothing more to do here; you can close this tab.",
        "#2d6cdf",
        "&#10003;",
    ),
    "invalid": Outcome(
        "This link did not work",
        "You can close this tab. "
        "Connected Accounts is still waiting if a connection is in progress.",
        "#b7791f",
        "?",
    ),
}
_PLACEHOLDER = re.compile(r"\{\{([A-Z]+)\}\}")


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
    extra: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def relayed(self) -> bool:
        return self.result is not None


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class LoopbackReceiver:
    """Listens on 127.0.0.1:<OS-chosen port> from construction until `close()`."""

    def __init__(self, *, timeout: float = 300.0, pages_dir: Path | None = None) -> None:
        self.timeout = timeout
        self._pages_dir = pages_dir or PAGES_DIR
        # Explicit IPv4 loopback and no SO_REUSEADDR (RFC 8252 §8.3, Appendix B).
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._sock.bind(("127.0.0.1", 0))
            self._sock.listen(16)
        except OSError as exc:
            self._sock.close()
            raise OSError(f"Could not open a local port for the browser's answer: {exc}") from exc
        self.port: int = self._sock.getsockname()[1]
        self.redirect_uri = f"http://127.0.0.1:{self.port}/callback"
        self._host = f"127.0.0.1:{self.port}"
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
        self._sock.close()
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
            sel.register(self._sock, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self._closed:
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r or self._closed:
                        return
                    try:
                        conn, _addr = self._sock.accept()
                    except OSError:
                        continue
                    if not self._slots.acquire(blocking=False):
                        conn.close()
                        continue
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
        if headers.get("host", "").lower() != self._host:
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
            if (
                not code
                and not params.get("error")
                and params.get("result") not in ("success", "error")
            ):
                return 400, "invalid", "The answer from the sign-in page was incomplete."
            known = {"code", "state", "iss", "error", "error_description", "flow_id", "result"}
            self._result = CallbackResult(
                state=state,
                code=Secret(code) if code else None,
                iss=params.get("iss"),
                error=params.get("error"),
                error_description=params.get("error_description"),
                flow_id=params.get("flow_id"),
                result=params.get("result"),
                extra={k: v for k, v in params.items() if k not in known},
            )
            self._cond.notify_all()
            result = self._result
        if result.error or result.result == "error":
            return 200, "failure", describe_provider_error(result.error, result.error_description)
        return 200, "success", "Your account is being connected. Return to Connected Accounts."

    def _send(self, conn: socket.socket, status: int, page: str, message: str) -> None:
        body = render_page(self._pages_dir, page, message).encode("utf-8")
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}"]
        lines += [f"{k}: {v}" for k, v in PAGE_HEADERS.items()]
        if status == 405:
            lines.append("Allow: GET")
        lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
        conn.settimeout(READ_TIMEOUT)
        conn.sendall("\r\n".join(lines).encode("ascii") + body)


def _shutdown(conns: list[socket.socket]) -> None:
    for conn in conns:
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)


def render_page(pages_dir: Path, name: str, message: str) -> str:
    """The outcome page for OUTCOMES[name] with the message HTML-escaped in `{{MESSAGE}}`."""
    outcome = OUTCOMES[name]
    try:
        template = (pages_dir / "outcome.html").read_text(encoding="utf-8")
    except OSError:
        template = FALLBACK_PAGE
    values = {
        "TITLE": html.escape(outcome.title),
        "HINT": html.escape(outcome.hint),
        "ACCENT": outcome.accent,
        "MARK": outcome.mark,
        "MESSAGE": html.escape(message),
    }
    # One pass, so a `{{...}}` inside the message is never filled in.
    return _PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), template)


_PROVIDER_ERRORS = {
    "access_denied": "You did not allow access, so nothing was connected.",
    "invalid_scope": "The provider refused the permissions this app asks for.",
    "server_error": "The provider had a problem. Try again in a few minutes.",
    "temporarily_unavailable": "The provider is busy right now. Try again in a few minutes.",
    "unauthorized_client": "The provider does not allow this app to connect.",
    "interaction_required": "The provider needs you to sign in again.",
    "login_required": "The provider needs you to sign in again.",
    "consent_required": "The provider needs your consent to connect.",
}


def describe_provider_error(error: str | None, description: str | None) -> str:
    """Plain words for an RFC 6749 §4.1.2.1 error response."""
    words = _PROVIDER_ERRORS.get(error or "", "The provider could not connect your account.")
    if description and description.strip():
        words += f" The provider said: {description.strip()[:300]}"
    return words
