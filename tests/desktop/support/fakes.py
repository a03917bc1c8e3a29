"""An in-process stand-in for ApiClient with the same methods, for view tests without a server.

Integration tests (test_live_backend.py) use the real ApiClient against a real backend.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from typing import Any

from desktop.api.answers import DisconnectOutcome, Provider
from desktop.api.errors import ApiError
from desktop.models.connection import Connection
from tests.desktop.support import data


class FakeApi:
    def __init__(self, connections: list[dict[str, Any]] | None = None) -> None:
        self.items = {c["id"]: c for c in connections or []}
        self.down = False
        self.checks: list[str] = []
        self.report_rows = 14
        self.report_gate: threading.Event | None = None  # reports wait on it when set
        self.reports_cancelled = 0  # reports that stopped waiting because of a cancel
        self.disconnect_outcome: dict[str, Any] | None = None
        self.closed = False
        self.streams: list[FakeStream] = []

    @contextmanager
    def open_stream(
        self, path: str, *, headers: Mapping[str, str] | None = None, read_timeout: float
    ) -> Iterator[FakeStream]:
        """GET /v1/events: opens (a comment line), then whatever `push` sends, until closed."""
        self._up()
        stream = FakeStream()
        self.streams.append(stream)
        try:
            yield stream
        finally:
            stream.close()

    def push(self, line: str) -> None:
        for stream in self.streams:
            stream.lines.put(line)

    def _up(self) -> None:
        if self.down:
            raise ApiError("network", "Cannot reach the backend at http://127.0.0.1:9.")

    def providers(self) -> list[Provider]:
        self._up()
        return [
            Provider.from_api(p)
            for p in (
                {"id": "demo", "display_name": "Demo Ads", "kind": "demo", "scopes": ["ads_read"]},
                {"id": "meta", "display_name": "Meta Ads", "kind": "meta", "scopes": ["ads_read"]},
            )
        ]

    def connections(self) -> list[Connection]:
        self._up()
        return [Connection.from_api(c) for c in self.items.values()]

    def connection(self, id: str, *, check: bool = False) -> Connection:
        self._up()
        if check:
            self.checks.append(id)
        if id not in self.items:
            raise ApiError("not_found", "That connection no longer exists.", status=404)
        return Connection.from_api(self.items[id])

    def report(
        self,
        id: str,
        *,
        account: str | None,
        since: date,
        until: date,
        level: str = "account",
        metrics: Any = None,
        cancel: threading.Event | None = None,
        **options: Any,  # the rest of ApiClient.report's query (the fake ignores them)
    ) -> dict[str, Any]:
        self._up()
        if self.report_gate is not None:
            while not self.report_gate.wait(0.01):
                if cancel is not None and cancel.is_set():
                    self.reports_cancelled += 1
                    raise ApiError("cancelled", "Cancelled.")
        return data.report(self.report_rows, level=level, start=since, connection_id=id)

    def report_bytes(self, id: str, **query: Any) -> bytes:
        """`report` as the backend's JSON bytes (ApiClient.report_bytes)."""
        return json.dumps(self.report(id, **query), separators=(",", ":")).encode()

    def disconnect(self, id: str, *, forget: bool = False) -> DisconnectOutcome:
        self._up()
        outcome = self.disconnect_outcome or {
            "connection_id": id,
            "provider": "demo",
            "revoked": ["refresh_token"],
            "not_revoked": [],
            "revocation_pending": False,
            "message": "Access was revoked.",
        }
        if not outcome["revocation_pending"] or forget:
            self.items.pop(id, None)
        return DisconnectOutcome.from_api(outcome)

    def close(self) -> None:
        self.closed = True


class FakeStream:
    """The response object `open_stream` yields: `iter_lines()` until `close()`."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.lines.put(": connected")
        self.lines.put("")

    def iter_lines(self) -> Iterator[str]:
        while (line := self.lines.get()) is not None:
            yield line

    def close(self) -> None:
        self.lines.put(None)
