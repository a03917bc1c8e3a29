"""A GET /v1/events reader for tests: a real HTTP stream read on a thread, parsed as SSE."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx


class EventReader:
    """`opened` is set once the server's opening comment arrived (the subscription is live);
    `next()` returns events in order; `raw` keeps every line seen (to search for secrets)."""

    def __init__(
        self, base_url: str, token: str | None, *, last_event_id: int | None = None
    ) -> None:
        headers = {"Accept": "text/event-stream"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self._client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(30, read=None))
        self._headers = headers
        self.opened = threading.Event()
        self.ended = threading.Event()
        self.status: int | None = None
        self.content_type = ""
        self.raw: list[str] = []
        self.comments: list[str] = []
        self.error: BaseException | None = None
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._response: httpx.Response | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._read, name="sse-reader", daemon=True)

    def start(self, timeout: float = 30) -> EventReader:
        self._thread.start()
        if not (self.opened.wait(timeout) or self.ended.is_set()):
            raise AssertionError("the event stream did not open")
        return self

    def _read(self) -> None:
        data: list[str] = []
        try:
            with self._client.stream("GET", "/v1/events", headers=self._headers) as response:
                self._response = response
                self.status = response.status_code
                self.content_type = response.headers.get("content-type", "")
                if response.status_code != 200:
                    response.read()
                    self.raw.append(response.text)
                    return
                for line in response.iter_lines():
                    self.raw.append(line)
                    if line.startswith(":"):
                        self.comments.append(line[1:].strip())
                        self.opened.set()
                    elif line.startswith("data:"):
                        data.append(line[5:].lstrip())
                    elif line == "" and data:
                        self._events.put(json.loads("\n".join(data)))
                        data = []
        except httpx.HTTPError as exc:
            if not self._closing:
                self.error = exc
        finally:
            self.ended.set()

    def next(self, timeout: float = 30) -> dict[str, Any]:
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event within {timeout} s") from None

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30
    ) -> list[dict[str, Any]]:
        """Events up to and including the first that matches `predicate`."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(max(0.01, deadline - time.monotonic()))
            seen.append(event)
            if predicate(event):
                return seen

    def pending(self) -> list[dict[str, Any]]:
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        self._closing = True
        if self._response is not None:
            self._response.close()
        self._client.close()
        self._thread.join(10)

    def __enter__(self) -> EventReader:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
