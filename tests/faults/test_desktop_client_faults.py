"""The desktop's ApiClient against a tiny misbehaving real server (raw sockets on loopback).

Rule: design rule "Lessons — a busy port, a closed browser, a cancel, a timeout: fail fast with
words, never hang" and STYLE "Errors are values a user can act on": whatever the backend does
(down, silent, slow, garbage), the client raises ApiError with plain words within its timeout.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.api.client import ApiClient
from desktop.api.errors import ApiError

Behaviour = Callable[[socket.socket], None]


class Misbehaving:
    """Accepts connections and lets `behaviour(conn)` answer each after reading its head."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.behaviour: Behaviour = lambda conn: None
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            self.behaviour(conn)

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


@pytest.fixture
def server() -> Iterator[Misbehaving]:
    s = Misbehaving()
    yield s
    s.close()


def answer(status: str, body: bytes, *headers: str) -> Behaviour:
    def send(conn: socket.socket) -> None:
        head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers, "", ""]
        conn.sendall("\r\n".join(head).encode() + body)

    return send


def call(url: str, timeout: float = 1.0) -> ApiError:
    client = ApiClient(url, timeout=timeout)
    try:
        with pytest.raises(ApiError) as info:
            client.connections()
    finally:
        client.close()
    err = info.value
    assert err.detail
    assert "Traceback" not in err.detail
    assert "{" not in err.detail  # plain words, not a dump of what came back
    return err


def test_backend_down_is_a_network_error_in_words() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    err = call(f"http://127.0.0.1:{port}")
    assert err.code == "network"
    assert "backend" in err.detail.lower()


def test_silent_backend_times_out_in_words(server: Misbehaving) -> None:
    release = threading.Event()
    server.behaviour = lambda conn: release.wait(600) and None  # type: ignore[func-returns-value]
    started = time.monotonic()
    err = call(server.url, timeout=0.5)
    release.set()
    assert err.code == "network"
    assert "in time" in err.detail
    assert time.monotonic() - started < 30  # the 0.5 s timeout, not the 600 s silence


def test_connection_reset_mid_answer_is_a_network_error(server: Misbehaving) -> None:
    def reset(conn: socket.socket) -> None:
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n[{"id"')
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    server.behaviour = reset
    assert call(server.url).code == "network"


garbage_bodies = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [b"<html>502 Bad Gateway</html>", b"null", b"42", b'"text"', b"{}", b"[1, 2]", b"[{]",
         b"\xff\xfe\x00", b'{"code": 5}', b"[" * 50 + b"]" * 50, b"NaN", b"[Infinity]"]
    ),
)  # fmt: skip
statuses = st.sampled_from(
    ["200 OK", "201 Created", "400 Bad Request", "401 Unauthorized", "418 I'm a teapot",
     "500 Internal Server Error", "502 Bad Gateway", "503 Service Unavailable", "599 Odd"]
)  # fmt: skip


def test_garbage_answers_are_api_errors_in_words(server: Misbehaving) -> None:
    """Hypothesis: any status with any body that is not the expected JSON ends as ApiError."""

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(status=statuses, body=garbage_bodies, retry=st.sampled_from(["", "5", "x", "-1"]))
    def probe(status: str, body: bytes, retry: str) -> None:
        headers = ["Content-Type: application/json"]
        if retry:
            headers.append(f"Retry-After: {retry}")
        server.behaviour = answer(status, body, *headers)
        err = call(server.url)
        if status.startswith("2"):
            assert err.code == "bad_response", err
        if err.retry_after is not None:
            assert 0 <= err.retry_after < 3600

    probe()


def test_a_report_may_take_longer_than_the_per_read_timeout(server: Misbehaving) -> None:
    """A report is prepared before its first byte (Meta's async runs: minutes), so the report
    call waits longer than other calls; they still time out at the per-read timeout."""
    body = b'{"columns": [], "rows": [], "totals": {}, "level": "account"}'
    reply = answer("200 OK", body, "Content-Type: application/json")

    def slow(conn: socket.socket) -> None:
        time.sleep(2.0)  # four per-read timeouts of the client below
        reply(conn)

    server.behaviour = slow
    client = ApiClient(server.url, timeout=0.5)
    try:
        report = client.report("c1", account=None, since=None, until=None)
        assert report["rows"] == []
        with pytest.raises(ApiError) as info:
            client.connections()
        assert info.value.code == "network"
    finally:
        client.close()
