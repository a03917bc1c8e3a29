"""How long this backend process has been idle: no request in flight, no open event stream.

The local companion service (desktop's embedded default) stops by itself after an idle
period; anything that keeps a client attached (a request, an SSE stream) marks itself here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Activity:
    """Counts what is in flight and remembers when the last of it ended."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._busy = 0
        self._last = clock()

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Wrap a request or an open event stream: the process is not idle meanwhile."""
        with self._lock:
            self._busy += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1
                self._last = self._clock()

    def touch(self) -> None:
        with self._lock:
            self._last = self._clock()

    def idle_for(self) -> float:
        """Seconds since the last activity ended; 0 while anything is in flight."""
        with self._lock:
            if self._busy:
                return 0.0
            return max(0.0, self._clock() - self._last)


class ActivityMiddleware:
    """Pure ASGI middleware: every HTTP request counts as activity while it is in flight.

    (A BaseHTTPMiddleware would add a task and a stream hop to every request.)
    """

    def __init__(self, app: Any, activity: Activity) -> None:
        self.app = app
        self.activity = activity

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.activity.busy():
            await self.app(scope, receive, send)
