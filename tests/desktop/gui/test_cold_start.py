"""What the first paint waits for, and what it does not (bench/cold_start.py measures the time):
the saved list is in the first paint, the backend link starts only after it, and the Reports
view is built when it is first needed, with the cache and fetch set on the window before."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QWidget

from desktop.app import bootstrap as desktop_app
from desktop.app.controller import Controller
from desktop.app.notify import Notifier
from desktop.concurrency import after_paint
from desktop.config import cache_dir
from desktop.models.cache import CACHE_FILE, Cache
from desktop.models.connections import ConnectionsModel
from desktop.views.main_window import REPORTS, MainWindow
from tests.desktop.gui import data
from tests.desktop.gui.fakes import FakeApi

BACKEND = "http://127.0.0.1:9"


class _Paints(QObject):
    """Records, at each paint of `window`, how many rows the model held."""

    def __init__(self, window: QWidget, model: ConnectionsModel) -> None:
        super().__init__()
        self.window, self.model = window, model
        self.rows: list[int] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and watched is self.window:
            self.rows.append(self.model.rowCount())
        return False


def test_the_first_paint_shows_the_saved_list_and_the_backend_link_starts_after_it(
    qtbot, qapp: QApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The promise: a saved list read by the time the window is shown is in its first paint
    (the preload runs while the window is built, bench/cold_start.py)."""
    # The window is shown: its paint comes, however busy the machine; never the fallback.
    monkeypatch.setattr(after_paint, "PAINT_WAIT_MS", 600_000)
    saved = Cache(cache_dir() / CACHE_FILE, BACKEND)
    saved.save_connections([data.connection("a"), data.connection("b"), data.connection("c")])
    saved.close()

    parts = desktop_app.build_main(qapp, BACKEND)
    qtbot.addWidget(parts.window)
    cache = parts.controller.cache
    assert cache is not None
    qtbot.waitUntil(lambda: cache.preload_finished, timeout=30_000)
    paints = _Paints(parts.window, parts.model)
    qapp.installEventFilter(paints)
    link_started_after: list[list[int]] = []
    parts.link.start = lambda: link_started_after.append(list(paints.rows))  # type: ignore[method-assign]
    assert not parts.notifier._looked  # no D-Bus question about the tray before the paint
    try:
        parts.start()
        qtbot.waitUntil(lambda: bool(link_started_after), timeout=5000)
        assert parts.notifier._looked
    finally:
        qapp.removeEventFilter(paints)
    assert paints.rows[0] == 3  # no empty first frame, then the list
    assert link_started_after == [paints.rows[: len(link_started_after[0])]]
    assert link_started_after[0], "the backend link started before the window had painted"
    assert not parts.window.reports_built
    parts.stop()


def test_after_next_paint_does_not_wait_forever_for_a_hidden_window(
    qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(after_paint, "PAINT_WAIT_MS", 50)
    hidden = QWidget()
    qtbot.addWidget(hidden)
    calls: list[str] = []
    after_paint.after_next_paint(hidden, lambda: calls.append("ran"))
    qtbot.waitUntil(lambda: calls == ["ran"], timeout=2000)
    qtbot.wait(100)
    assert calls == ["ran"]  # once, not once per paint or timer


def test_after_next_paint_runs_once_after_the_paint(qtbot, qapp: QApplication) -> None:
    window = QWidget()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    painted: list[int] = []
    paints = _Paints(window, ConnectionsModel())
    qapp.installEventFilter(paints)
    try:
        after_paint.after_next_paint(window, lambda: painted.append(len(paints.rows)))
        qtbot.waitUntil(lambda: bool(painted), timeout=2000)
        window.update()
        qtbot.wait(50)
    finally:
        qapp.removeEventFilter(paints)
    assert painted[0] >= 1
    assert len(painted) == 1


def test_reports_view_is_built_on_first_visit_with_what_the_window_was_given(
    qtbot, tmp_cache_path: Path
) -> None:
    model = ConnectionsModel()
    model.set_connections([data.parsed("a")])
    window = MainWindow(model)
    qtbot.addWidget(window)
    cache = Cache(tmp_cache_path, "embedded")
    api = FakeApi([data.connection("a")])

    def fetch(connection_id: str, query: Any, cancel: Any) -> bytes:
        return api.report_bytes(
            connection_id,
            account=query.account,
            since=query.since,
            until=query.until,
            level=query.level,
        )

    window.set_report_cache(cache)
    window.set_report_fetch(fetch)
    assert not window.reports_built
    window.show_view(REPORTS)
    assert window.reports_built
    assert window.stack.currentWidget() is window.reports
    assert window.reports.cache is cache
    assert window.reports.fetch is fetch
    # Later changes reach the built view.
    window.set_report_fetch(None)
    assert window.reports.fetch is None
    cache.close()


@pytest.mark.parametrize("state", ["saved", "unreadable", "none"])
def test_load_cached_always_goes_on_to_the_backend(qtbot, tmp_cache_path: Path, state: str) -> None:
    model = ConnectionsModel()
    window = MainWindow(model)
    qtbot.addWidget(window)
    cache: Cache | None = Cache(tmp_cache_path, "embedded")
    if state == "saved":
        assert cache is not None
        cache.save_connections([data.connection("a")])
    elif state == "unreadable":
        tmp_cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp_cache_path.write_bytes(b"this is not an SQLite file" * 100)
    else:
        cache = None
    controller = Controller(window, model, cache, Notifier(window.windowIcon(), window))
    went_on: list[int] = []
    controller.load_cached(then=lambda: went_on.append(model.rowCount()))
    qtbot.waitUntil(lambda: bool(went_on), timeout=5000)
    assert went_on == [1 if state == "saved" else 0]
    if cache is not None:
        cache.close()
    if state == "unreadable":  # the broken file is left for the user or support to look at
        with pytest.raises(sqlite3.DatabaseError):
            sqlite3.connect(tmp_cache_path).execute("SELECT * FROM connections")
