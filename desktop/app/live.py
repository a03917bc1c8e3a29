"""Live updates for the window: the backend's event stream, read on a thread of its own.

The stream is read off the UI thread (a blocking httpx stream); what it brings is handed to
the UI thread through queued Qt signals. A dropped stream (the service restarted, the network
went away, the access token ran out) is reopened with capped, jittered backoff; each time it
opens, `opened` asks the owner to re-read the list, since changes made while it was closed
were never announced to it.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal, Slot

if TYPE_CHECKING:
    from desktop.api.client import ApiClient

log = logging.getLogger(__name__)

BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 30.0
# Kept here while their reader thread runs: the thread never holds the last reference, so a
# LiveUpdates is always destroyed on the UI thread, where its queued signals are delivered.
_running: set[LiveUpdates] = set()


def backoff(failures: int, *, start: float = BACKOFF_START_S, cap: float = BACKOFF_MAX_S) -> float:
    """Seconds before reopening after `failures` failed attempts in a row: doubling, capped,
    ±20 % jitter so a restarted service is not met by every client at the same instant."""
    delay = min(cap, start * 2.0 ** max(0, failures - 1))
    return delay * random.uniform(0.8, 1.2)  # noqa: S311 - not crypto


def _hang_up(response: Any) -> None:
    """Wake a reader blocked on this response from another thread: closing a socket does not
    interrupt a recv() in progress on Linux, shutting it down does."""
    import socket  # here: the window's first paint does not need it (bench/cold_start.py)

    try:
        sock = response.extensions.get("socket")  # desktop/api/loopback.py
        stream = response.extensions.get("network_stream")  # httpx's own transport
        if sock is None and stream is not None:
            sock = stream.get_extra_info("socket")
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, AttributeError) as exc:
        log.debug("shutting the event stream down: %s", type(exc).__name__)
    try:
        response.close()
    except Exception as exc:
        log.debug("closing the event stream: %s", type(exc).__name__)


class LiveUpdates(QObject):
    """Follows `GET /v1/events` of whatever client `client_source()` returns at each attempt."""

    opened = Signal()
    """The stream is live: re-read the list now (changes made while it was closed were missed)."""
    event_received = Signal(object)
    """A connection changed: (the event dict, with `kind` and the `connection` object)."""
    lost = Signal(str, float, int)
    """The stream dropped: (why in words, seconds until the next attempt, failures in a row)."""

    _opened_on_worker = Signal(int)
    _event_on_worker = Signal(int, object)
    _lost_on_worker = Signal(int, str, float, int)
    _ended_on_worker = Signal(int)

    def __init__(self, client_source: Callable[[], ApiClient | None]) -> None:
        super().__init__()
        self._client_source = client_source
        self._generation = 0
        self._stop: threading.Event | None = None
        self._response: Any = None
        self._response_lock = threading.Lock()
        self._opened_on_worker.connect(self._on_worker_opened)
        self._event_on_worker.connect(self._on_worker_event)
        self._lost_on_worker.connect(self._on_worker_lost)
        self._ended_on_worker.connect(self._on_worker_ended)

    @property
    def running(self) -> bool:
        return self._stop is not None

    def start(self) -> None:
        """Open the stream (again); a running reader is stopped first."""
        self.stop()
        self._generation += 1
        stop = self._stop = threading.Event()
        _running.add(self)
        thread = threading.Thread(
            target=self._read, args=(self._generation, stop), name="live-updates", daemon=True
        )
        thread.start()

    def stop(self) -> None:
        """Stop reading; nothing more is delivered from the current stream."""
        stop, self._stop = self._stop, None
        if stop is None:
            return
        stop.set()
        self._generation += 1
        with self._response_lock:
            response, self._response = self._response, None
        if response is not None:
            _hang_up(response)

    # -- the reader thread ------------------------------------------------------------------
    def _read(self, generation: int, stop: threading.Event) -> None:
        failures = 0
        last_id: int | None = None
        try:
            while not stop.is_set():
                client = self._client_source()
                if client is None:
                    why, opened = "Not connected to the companion service.", False
                else:
                    why, opened, last_id = self._follow(client, generation, stop, last_id)
                if stop.is_set():
                    return
                failures = 1 if opened else failures + 1
                wait = backoff(failures)
                log.info("live updates stopped (%s); retrying in %.1f s", why, wait)
                self._lost_on_worker.emit(generation, why, wait, failures)
                stop.wait(wait)
        finally:
            self._ended_on_worker.emit(generation)

    def _follow(
        self, client: ApiClient, generation: int, stop: threading.Event, last_id: int | None
    ) -> tuple[str, bool, int | None]:
        """Read one stream to its end: (why it ended, whether it opened, the last event id)."""
        from desktop.api.errors import ApiError
        from desktop.api.events import StreamOpened, connection_events

        opened = False
        try:
            for item in connection_events(
                client, last_event_id=last_id, stop=stop, on_response=self._keep
            ):
                if isinstance(item, StreamOpened):
                    opened = True
                    self._opened_on_worker.emit(generation)
                    continue
                if isinstance(item.get("id"), int):
                    last_id = item["id"]
                self._event_on_worker.emit(generation, item)
        except ApiError as exc:
            return exc.detail, opened, last_id
        except Exception as exc:
            log.warning("live updates failed: %s", type(exc).__name__)
            return "The live updates failed.", opened, last_id
        finally:
            self._keep(None)
        return "The companion service ended the live updates.", opened, last_id

    def _keep(self, response: Any) -> None:
        with self._response_lock:
            self._response = response

    # -- on the UI thread (queued from the reader) ---------------------------------------------
    def _current(self, generation: int) -> bool:
        return generation == self._generation and shiboken6.isValid(self)

    @Slot(int)
    def _on_worker_opened(self, generation: int) -> None:
        if self._current(generation):
            self.opened.emit()

    @Slot(int, object)
    def _on_worker_event(self, generation: int, event: object) -> None:
        if self._current(generation):
            self.event_received.emit(event)

    @Slot(int, str, float, int)
    def _on_worker_lost(self, generation: int, why: str, wait: float, failures: int) -> None:
        if self._current(generation):
            self.lost.emit(why, wait, failures)

    @Slot(int)
    def _on_worker_ended(self, _generation: int) -> None:
        # Dropped a moment later, on this thread, once the reader has returned (unless
        # another reader was started meanwhile).
        QTimer.singleShot(1000, self._forget_if_stopped)

    def _forget_if_stopped(self) -> None:
        if self._stop is None:
            _running.discard(self)
