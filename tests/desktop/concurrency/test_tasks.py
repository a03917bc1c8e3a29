"""The background-task helper (desktop/concurrency/tasks.py): work off the UI thread, callbacks
on it, dropped once their parent is gone or the task is cancelled."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QObject, QThread

from desktop.concurrency.tasks import run_in_background


def test_task_runs_off_the_ui_thread_and_calls_back_on_it(qtbot) -> None:
    parent = QObject()
    ui_thread = QThread.currentThread()
    seen: dict[str, object] = {}

    def op() -> int:
        seen["worker"] = QThread.currentThread()
        return 42

    def success(value: int) -> None:
        seen["value"] = value
        seen["callback"] = QThread.currentThread()

    run_in_background(parent, op, success=success)
    qtbot.waitUntil(lambda: "value" in seen)
    assert seen["value"] == 42
    assert seen["worker"] is not ui_thread
    assert seen["callback"] is ui_thread


def test_task_failure_goes_to_the_failure_callback(qtbot) -> None:
    parent = QObject()
    errors: list[Exception] = []

    def op() -> None:
        raise ValueError("boom")

    run_in_background(parent, op, success=lambda _: None, failure=errors.append)
    qtbot.waitUntil(lambda: bool(errors))
    assert isinstance(errors[0], ValueError)


@pytest.mark.parametrize("how", ["destroyed", "cancelled"])
def test_callbacks_are_dropped_when_parent_is_gone_or_task_cancelled(qtbot, how: str) -> None:
    parent = QObject()
    release = threading.Event()
    finished = threading.Event()
    called: list[object] = []

    def op() -> int:
        release.wait(5)
        finished.set()
        return 1

    task = run_in_background(parent, op, success=called.append, failure=called.append)
    if how == "destroyed":
        import shiboken6

        shiboken6.delete(parent)
    else:
        task.cancel()
        assert task.cancel_event.is_set()
    release.set()
    qtbot.waitUntil(lambda: task.done)
    assert finished.is_set()
    assert called == []


def test_shutdown_with_cancel_stops_waiting_operations(qtbot) -> None:
    from desktop.concurrency import tasks

    parent = QObject()
    cancel = threading.Event()
    run_in_background(parent, lambda: cancel.wait(30), success=lambda _: None, cancel=cancel)
    assert tasks.shutdown(5000, cancel=True)
    assert cancel.is_set()
