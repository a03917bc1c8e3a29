"""Desktop edges: ambiguous Host at the receiver (RFC 9112), garbage and trickled answers."""

from __future__ import annotations

import socket
import time

import pytest

from desktop.api.client import ApiClient
from desktop.api.errors import ApiError
from desktop.connect.loopback import LoopbackReceiver
from tests.faults.test_desktop_client_faults import Misbehaving, answer

STATE = "s-pending-state-0123456789abcdef"


def send(port: int, data: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        head = b""
        while b"\r\n" not in head:
            head += s.recv(4096)
    return int(head.split(b" ", 2)[1])


@pytest.mark.parametrize("shape", ["two Host fields", "absolute-form target", "space before colon"])
def test_loopback_refuses_ambiguous_host(shape: str) -> None:
    """RFC 9112 §3.2 (one Host, else 400), §3.2.2 (absolute-form: the target's authority
    wins), §5.1 (no whitespace between field name and colon: 400)."""
    with LoopbackReceiver(timeout=5) as r:
        r.expect(STATE)
        host, q = f"127.0.0.1:{r.port}", f"/callback?state={STATE}&code=evil"
        req = {
            "two Host fields": f"GET {q} HTTP/1.1\r\nHost: evil.example\r\nHost: {host}\r\n\r\n",
            "absolute-form target": f"GET http://evil.example{q} HTTP/1.1\r\nHost: {host}\r\n\r\n",
            "space before colon": f"GET {q} HTTP/1.1\r\nHost : {host}\r\n\r\n",
        }[shape]
        assert send(r.port, req.encode()) == 400


def test_client_deeply_nested_json_is_an_api_error() -> None:
    s = Misbehaving()
    s.behaviour = answer("200 OK", b"[" * 100000 + b"]" * 100000)
    with pytest.raises(ApiError):
        ApiClient(s.url, timeout=1).connections()
    s.close()


def test_client_retry_after_is_finite() -> None:
    s = Misbehaving()
    s.behaviour = answer("503 Service Unavailable", b"", "Retry-After: inf")
    with pytest.raises(ApiError) as info:
        ApiClient(s.url, timeout=1).connections()
    s.close()
    assert info.value.retry_after is None or info.value.retry_after <= 3600


def test_client_trickling_backend_times_out_within_a_bound() -> None:
    s = Misbehaving()

    def trickle(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(400):  # two minutes of trickle
            conn.sendall(b" ")
            time.sleep(0.3)

    s.behaviour = trickle
    started = time.monotonic()
    with pytest.raises(ApiError) as info:
        ApiClient(s.url, timeout=1).connections()
    s.close()
    assert time.monotonic() - started < 30  # the 1 s timeout, not the 2-minute trickle
    assert "in time" in info.value.detail
