"""Run slow work off the UI thread and call back on it (Anki's QueryOp, Picard's run_task).

Every view uses `run_in_background` for backend, keyring and disk calls; widgets never touch
threads themselves, and the UI thread never waits on the network or the disk.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal, Slot

log = logging.getLogger(__name__)

T = TypeVar("T")

_pool: QThreadPool | None = None
# Relays are kept here until they deliver; Qt would otherwise let Python collect them mid-flight.
_live: set[_Relay] = set()
_running: set[Task[Any]] = set()


def thread_pool() -> QThreadPool:
    """The pool every background task runs on (a connect flow can hold a thread for minutes)."""
    global _pool
    if _pool is None:
        _pool = QThreadPool()
        _pool.setMaxThreadCount(8)
    return _pool


class _Relay(QObject):
    """Lives on the UI thread; the worker emits `finished` and Qt queues it to `_on_finished`."""

    finished = Signal(object, object)
    """Emitted once by the worker thread: (result, exception or None)."""

    def __init__(self, deliver: Callable[[object, object], None]) -> None:
        super().__init__()
        self._deliver = deliver
        self.finished.connect(self._on_finished)

    @Slot(object, object)
    def _on_finished(self, result: object, error: object) -> None:
        try:
            self._deliver(result, error)
        finally:
            # Python owns the relay: drop the last reference only after this event returns,
            # never inside it (freeing a QObject while it handles its own event crashes).
            QTimer.singleShot(0, lambda: _live.discard(self))


class Task(Generic[T]):
    """Handle for one background operation; `cancel()` sets the event the operation may watch."""

    def __init__(self, cancel_event: threading.Event) -> None:
        self.cancel_event = cancel_event
        self.done = False

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def cancel(self) -> None:
        """Ask the operation to stop; its callbacks are then dropped (the canceller knows)."""
        self.cancel_event.set()


class _Runnable(QRunnable):
    def __init__(self, op: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self._op = op
        self._relay = relay
        self.setAutoDelete(True)

    def run(self) -> None:
        try:
            result = self._op()
        except Exception as exc:  # noqa: BLE001 - every failure is handed to the UI thread
            self._relay.finished.emit(None, exc)
        else:
            self._relay.finished.emit(result, None)


def run_in_background(
    parent: QObject,
    op: Callable[[], T],
    *,
    success: Callable[[T], None],
    failure: Callable[[Exception], None] | None = None,
    cancel: threading.Event | None = None,
) -> Task[T]:
    """Run `op()` on the pool; call `success(result)` or `failure(exc)` on the UI thread.

    Callbacks are dropped when `parent` was destroyed meanwhile or the task was cancelled.
    Pass `cancel` when `op` watches that event; `Task.cancel()` sets it.
    """
    task: Task[T] = Task(cancel or threading.Event())
    _running.add(task)

    def deliver(result: object, error: object) -> None:
        task.done = True
        _running.discard(task)
        if task.cancelled or not shiboken6.isValid(parent):
            return
        if isinstance(error, Exception):
            if failure is not None:
                failure(error)
            else:
                log.warning("Background task failed: %s", error)
            return
        success(result)  # type: ignore[arg-type]

    relay = _Relay(deliver)
    _live.add(relay)
    thread_pool().start(_Runnable(op, relay))
    return task


def shutdown(timeout_ms: int = 3000, *, cancel: bool = False) -> bool:
    """Wait (bounded) for running tasks; with `cancel`, ask them to stop first (app exit:
    a connect flow waiting for the browser would otherwise hold the exit for minutes)."""
    if cancel:
        for task in list(_running):
            task.cancel()
    if _pool is None:
        return True
    return bool(_pool.waitForDone(timeout_ms))
