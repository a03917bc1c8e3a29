"""Bounded requests, against a real `serve` process over raw sockets.

Rule: issue 14 point 3 — request bodies are capped at 64 KiB (413 problem+json), counted as
they arrive when chunked; a head or body that stops half way is closed within the read
timeout (15 s by default; 2 s here); connections and requests in flight are limited; a
64 MiB body grows the server's memory by less than 50 MiB.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.config import Settings
from tests.support.backend_process import ServeProcess, backend_env, serving, vm_rss_kib

CAP = 64 * 1024
READ_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    data = tmp_path_factory.mktemp("bounded") / "data"
    env = backend_env(data, request_read_timeout_s=str(READ_TIMEOUT_S))
    with serving([], env) as proc:
        yield proc


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    return sock


def _head(url: str, lines: list[str]) -> bytes:
    host = url.removeprefix("http://")
    return (
        "\r\n".join(["POST /v1/auth/login HTTP/1.1", f"Host: {host}", *lines]) + "\r\n\r\n"
    ).encode()


def _read_all(sock: socket.socket, deadline_s: float = 30) -> bytes:
    """Everything the server sends until it closes the connection (or a reset)."""
    sock.settimeout(deadline_s)
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _problem(raw: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    return status, headers, json.loads(body) if body else {}


def test_default_limits_are_64_kib_and_15_s() -> None:
    settings = Settings()
    assert settings.max_body_bytes == CAP
    assert settings.request_read_timeout_s == 15


def test_declared_body_over_64_kib_is_refused_before_it_is_read(server: ServeProcess) -> None:
    with _connect(server.url) as sock:
        sock.sendall(_head(server.url, ["Content-Type: application/json",
                                        f"Content-Length: {10 * 1024 * 1024}"]))  # fmt: skip
        status, headers, body = _problem(_read_all(sock))
    assert status == 413
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert body["code"] == "payload_too_large"
    assert body["status"] == 413
    assert "64 KiB" in str(body["detail"])


def test_chunked_body_is_counted_as_it_arrives(server: ServeProcess) -> None:
    with _connect(server.url) as sock:
        sock.sendall(_head(server.url, ["Content-Type: application/json",
                                        "Transfer-Encoding: chunked"]))  # fmt: skip
        piece = b"x" * 16384
        for _ in range(5):  # 80 KiB, then silence: the answer must not wait for more
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        status, headers, body = _problem(_read_all(sock))
    assert status == 413
    assert body["code"] == "payload_too_large"


def test_a_body_of_exactly_64_kib_is_read(server: ServeProcess) -> None:
    prefix = b'{"email": "a@example.test", "password": "'
    suffix = b'", "device_name": "x", "device_public_key": {}}'
    body = prefix + b"p" * (CAP - len(prefix) - len(suffix)) + suffix
    assert len(body) == CAP
    resp = httpx.post(f"{server.url}/v1/auth/login", content=body,
                      headers={"Content-Type": "application/json"}, timeout=30)  # fmt: skip
    assert resp.status_code == 422, resp.text  # read and validated, not refused for its size


def test_stalled_head_is_closed(server: ServeProcess) -> None:
    with _connect(server.url) as sock:
        sock.sendall(b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Ty")
        answer = _read_all(sock)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer
    # A connection that never says anything is closed too.
    with _connect(server.url) as sock:
        answer = _read_all(sock)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer


def test_stalled_head_on_a_kept_alive_connection_is_closed(server: ServeProcess) -> None:
    with _connect(server.url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(30)
        first = b""
        while b"\r\n\r\n" not in first:
            first += sock.recv(65536)
        head, _, body = first.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), first
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(body) < length:
            body += sock.recv(65536)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        answer = _read_all(sock)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer


def test_stalled_body_is_answered_408_and_closed(server: ServeProcess) -> None:
    with _connect(server.url) as sock:
        sock.sendall(_head(server.url, ["Content-Type: application/json", "Content-Length: 200"]))
        sock.sendall(b'{"email": "a@exa')
        status, headers, body = _problem(_read_all(sock))
    assert status == 408
    assert headers["connection"] == "close"
    assert body["code"] == "request_timeout"


def _stream(url: str, head: bytes, chunks: Iterator[bytes]) -> None:
    """Send `head` and then `chunks` as fast as the server takes them, until it hangs up."""
    with _connect(url) as sock:
        reader = threading.Thread(target=_read_all, args=(sock,), daemon=True)
        with contextlib.suppress(OSError):
            sock.sendall(head)
            reader.start()
            for chunk in chunks:
                sock.sendall(chunk)
        reader.join(30)


def test_rss_grows_less_than_50_mib_under_a_64_mib_body(server: ServeProcess) -> None:
    size = 64 * 1024 * 1024
    piece = b"{" + b"a" * (1024 * 1024 - 1)
    assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200
    before = vm_rss_kib(server.pid)

    def declared() -> Iterator[bytes]:
        for _ in range(size // len(piece)):
            yield piece

    def chunked() -> Iterator[bytes]:
        for _ in range(size // len(piece)):
            yield b"%x\r\n%s\r\n" % (len(piece), piece)
        yield b"0\r\n\r\n"

    _stream(server.url, _head(server.url, ["Content-Type: application/json",
                                           f"Content-Length: {size}"]), declared())  # fmt: skip
    _stream(server.url, _head(server.url, ["Content-Type: application/json",
                                           "Transfer-Encoding: chunked"]), chunked())  # fmt: skip
    # Both at once, as an attacker would.
    threads = [
        threading.Thread(target=_stream, args=(server.url, _head(server.url, [
            "Content-Type: application/json", "Transfer-Encoding: chunked"]), chunked()))
        for _ in range(3)
    ]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    after = vm_rss_kib(server.pid)
    assert after - before < 50 * 1024, (before, after)
    assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200


def test_connections_past_the_concurrency_limit_get_503(tmp_path: Path) -> None:
    env = backend_env(tmp_path / "data", limit_concurrency="3")
    with serving([], env) as proc:
        idle = [_connect(proc.url) for _ in range(3)]
        try:
            deadline = time.monotonic() + 30
            while True:
                resp = httpx.get(f"{proc.url}/healthz", timeout=30)
                if resp.status_code == 503:
                    break
                assert resp.status_code == 200
                assert time.monotonic() < deadline, "the limit never applied"
                time.sleep(0.05)
        finally:
            for sock in idle:
                sock.close()
        deadline = time.monotonic() + 30
        while httpx.get(f"{proc.url}/healthz", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "the server stayed full"
            time.sleep(0.05)
