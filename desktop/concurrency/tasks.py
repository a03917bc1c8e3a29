"""Run slow work off the UI thread and call back on it (Anki's QueryOp, Picard's run_task).

Every view uses `run_in_background` for backend, keyring and disk calls; widgets never touch
threads themselves, and the UI thread never waits on the network or the disk.
"""

from __future__ import annotations

import logging
import sys
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


UI_SWITCH_INTERVAL_S = 0.001
"""How long a thread that wants the GIL waits before the one running Python must hand it over
(CPython's default is 5 ms). Once workers run Python beside the UI thread (a report decoded,
a chart summed), every call from Qt into Python on the UI thread (a heartbeat, each cell of a
paint) may wait that long: 1 ms keeps a frame a frame (bench/ui_stall.py, report_scale.py)."""


def thread_pool() -> QThreadPool:
    """The pool every background task runs on (a connect flow can hold a thread for minutes)."""
    global _pool
    if _pool is None:
        sys.setswitchinterval(UI_SWITCH_INTERVAL_S)
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


def _done() -> None:
    """What a `_Runnable` holds once its operation has run."""


class _Runnable(QRunnable):
    def __init__(self, op: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self._op = op
        self._relay = relay
        self.setAutoDelete(True)

    def run(self) -> None:
        # Let go of the operation (and all it holds: a report's columns) once it has run: the
        # pool may keep this wrapper long after.
        op, self._op = self._op, _done
        relay = self._relay
        try:
            result = op()
        except Exception as exc:  # every failure is handed to the UI thread
            relay.finished.emit(None, exc)
        else:
            relay.finished.emit(result, None)


def _deliverer(
    task: Task[T],
    parent: QObject,
    success: Callable[[T], None],
    failure: Callable[[Exception], None] | None,
) -> Callable[[object, object], None]:
    """On the UI thread: hand the outcome to `success` or `failure`, unless the task was
    cancelled or `parent` is gone."""

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

    return deliver


def run_in_background(
    parent: QObject,
    op: Callable[[], T],
    *,
    success: Callable[[T], None],
    failure: Callable[[Exception], None] | None = None,
    cancel: threading.Event | None = None,
    start: Callable[[Callable[[], None]], None] | None = None,
) -> Task[T]:
    """Run `op()` on the pool; call `success(result)` or `failure(exc)` on the UI thread.

    Callbacks are dropped when `parent` was destroyed meanwhile or the task was cancelled.
    Pass `cancel` when `op` watches that event; `Task.cancel()` sets it.
    `start`, when given, is handed the function that puts `op` on the pool and calls it when
    it sees fit (`lambda go: after_next_paint(window, go)`): a CPU-heavy op then does not
    compete for the GIL with a paint. A task cancelled before then never starts.
    """
    task: Task[T] = Task(cancel or threading.Event())
    _running.add(task)

    deliver = _deliverer(task, parent, success, failure)

    def go() -> None:
        if task.cancelled or not shiboken6.isValid(parent):
            deliver(None, None)  # ends the task; its callbacks are dropped
            return
        relay = _Relay(deliver)
        _live.add(relay)
        thread_pool().start(_Runnable(op, relay))

    if start is None:
        go()
    else:
        start(go)
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
