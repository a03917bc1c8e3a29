"""A real TCP proxy in front of the sandbox that can lose a response after the provider acted.

It forwards HTTP/1.1 requests one by one (Content-Length bodies, as httpx sends them); when
`drop_refresh_responses` > 0, a refresh-grant request is forwarded, its answer read in full (the
provider has rotated by then), and the client connection is reset instead of answered.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from urllib.parse import urlsplit


def _read_message(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        body += chunk
    return head + b"\r\n\r\n" + body


class LossyProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._path = parts.path
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}{self._path}"
        self.drop_refresh_responses = 0
        self.dropped = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, socket.create_connection(self._upstream, timeout=30) as up:
            while True:
                try:
                    request = _read_message(conn)
                except (ConnectionError, OSError):
                    return
                up.sendall(request)
                answer = _read_message(up)
                with self._lock:
                    drop = (
                        self.drop_refresh_responses > 0 and b"grant_type=refresh_token" in request
                    )
                    if drop:
                        self.drop_refresh_responses -= 1
                        self.dropped += 1
                if drop:  # the provider acted; the answer is lost on the way back (a reset)
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                conn.sendall(answer)
