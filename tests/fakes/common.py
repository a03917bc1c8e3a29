"""What every fake server shares: fault injection, a request log and PKCE checking."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse


@dataclass
class Fault:
    """A canned answer for the next request to `path`."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class FakeState:
    """Thread-safe request counters and queued faults (uvicorn runs in another thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, headers
        self._faults: dict[str, deque[Fault]] = {}

    def fail_next(
        self,
        path: str,
        status: int,
        *,
        times: int = 1,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        with self.lock:
            queue = self._faults.setdefault(path, deque())
            for _ in range(times):
                queue.append(Fault(status, body, dict(headers or {})))

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            queue = self._faults.get(path)
            return queue.popleft() if queue else None

    def record(self, request: Request) -> None:
        with self.lock:
            self.hits[request.url.path] += 1
            self.requests.append(
                (
                    request.method,
                    request.url.path,
                    {k.lower(): v for k, v in request.headers.items()},
                )
            )


def install_faults(app: FastAPI, state: FakeState) -> None:
    """Count every request; answer with a queued fault instead of the route when one waits."""

    @app.middleware("http")
    async def _faults(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        state.record(request)
        fault = state.take_fault(request.url.path)
        if fault is not None:
            return JSONResponse(fault.body, status_code=fault.status, headers=fault.headers)
        return await call_next(request)


def s256(verifier: str) -> str:
    """RFC 7636 §4.2."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_token(prefix: str) -> str:
    return f"{prefix}-{secrets.token_urlsafe(16)}"


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1: Basic with each part form-urlencoded."""
    from urllib.parse import unquote_plus

    if not header or not header.startswith("Basic "):
        return None
    raw = base64.b64decode(header[6:]).decode()
    client_id, _, secret = raw.partition(":")
    return unquote_plus(client_id), unquote_plus(secret)


async def form_of(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (parsed here: no python-multipart needed)."""
    from urllib.parse import parse_qsl

    return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
