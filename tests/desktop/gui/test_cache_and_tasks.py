"""The local cache (no secrets, per backend) and the background-task helper."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QThread

from desktop.cache import Cache
from desktop.tasks import run_in_background
from tests.desktop.gui import data


def test_cache_keeps_the_list_and_last_report_per_connection(tmp_cache_path: Path) -> None:
    cache = Cache(tmp_cache_path, "embedded")
    cache.save_connections([data.connection("a"), data.connection("b")])
    cache.save_report("a", data.report(3))
    cache.save_report("a", data.report(5))
    again = Cache(tmp_cache_path, "embedded")
    assert [c["id"] for c in again.load_connections()] == ["a", "b"]
    report = again.load_report("a")
    assert report is not None
    assert len(report["rows"]) == 5
    assert again.load_report("b") is None
    assert Cache(tmp_cache_path, "https://other.example").load_connections() == []
    cache.close()
    again.close()


def test_cache_drops_reports_of_removed_connections(tmp_cache_path: Path) -> None:
    cache = Cache(tmp_cache_path, "embedded")
    cache.save_connections([data.connection("a"), data.connection("b")])
    cache.save_report("b", data.report(2))
    cache.save_connections([data.connection("a")])
    assert cache.load_report("b") is None
    cache.forget("a")
    assert cache.load_connections() == []
    cache.close()


def test_constructing_a_cache_touches_no_disk(tmp_path: Path) -> None:
    Cache(tmp_path / "sub" / "cache.sqlite3", "embedded")
    assert not (tmp_path / "sub").exists()


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
    from desktop import tasks

    parent = QObject()
    cancel = threading.Event()
    run_in_background(parent, lambda: cancel.wait(30), success=lambda _: None, cancel=cancel)
    assert tasks.shutdown(5000, cancel=True)
    assert cancel.is_set()
