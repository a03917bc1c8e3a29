"""What the first paint waits for, and what it does not (bench/cold_start.py measures the time):
the saved list is in the first paint, the backend link starts only after it, and the Reports
view is built when it is first needed, with the cache and fetch set on the window before."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
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
from tests.desktop.support import data
from tests.desktop.support.fakes import FakeApi

BACKEND = "http://127.0.0.1:9"
ROOT = Path(__file__).resolve().parents[3]

# `connected-accounts --backend URL` as installed, in a process of its own, reporting which
# modules were loaded when the window first painted the saved list; then it quits.
_REAL_START = """
import json, sys
from desktop.app import bootstrap
start, seen = bootstrap.MainParts.start, {}
def watched_start(parts):
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication
    class FirstPaint(QObject):
        def eventFilter(self, obj, event):
            if not seen and event.type() == QEvent.Type.Paint and parts.model.rowCount() > 0:
                seen["modules"] = sorted(sys.modules)
                # PySide6 adds `Qt` (and its 93 enums) to QtCore the first time it is used.
                seen["qt_namespace"] = "Qt" in vars(sys.modules["PySide6.QtCore"])
                QTimer.singleShot(0, QApplication.quit)
            return False
    parts.first_paint = FirstPaint()
    QApplication.instance().installEventFilter(parts.first_paint)
    start(parts)
bootstrap.MainParts.start = watched_start
from desktop.__main__ import main
code = main(["--backend", sys.argv[1]])
print(json.dumps({"code": code, "modules": seen.get("modules"), "qt": seen.get("qt_namespace")}))
"""
# What the first paint must not wait for (bench/cold_start.py): the Reports page's chart and
# numbers, the backend link's HTTP, keyring, JWT and TLS, the command line, the dialogs.
NOT_BEFORE_FIRST_PAINT = (
    "PySide6.QtCharts",
    "numpy",
    "desktop.views.reports",
    "desktop.views.report_chart",
    "httpx",
    "ssl",
    "urllib.request",
    "email",
    "keyring",
    "jwt",
    "cryptography",
    "pydantic",
    "sqlalchemy",
    "desktop.cli.main",
    "desktop.api.client",
    "desktop.account.session",
    "desktop.views.connect_dialog",
    "desktop.views.settings_dialog",
    "desktop.app.desktop_notify",
    "decimal",
    "hashlib",
    "platformdirs",
)


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


def test_after_next_paint_waits_for_its_own_widget(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another window's paint does not count; the widget's own does (it is repainted whole)."""
    monkeypatch.setattr(after_paint, "PAINT_WAIT_MS", 60_000)
    window, other = QWidget(), QWidget()
    for w in (window, other):
        qtbot.addWidget(w)
    other.show()
    qtbot.waitExposed(other)
    ran: list[str] = []
    after_paint.after_next_paint(window, lambda: ran.append("ran"))
    other.repaint()
    qtbot.wait(50)  # the event loop goes idle: what runs "when idle after the paint" would
    assert ran == []
    window.show()
    qtbot.waitUntil(lambda: ran == ["ran"], timeout=2000)


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


def test_the_real_start_paints_the_saved_list_before_loading_what_can_come_later(
    tmp_path: Path,
) -> None:
    """The installed entry point (desktop/__main__.py, then run_gui), in its own process: the
    first paint holds the saved list, and none of NOT_BEFORE_FIRST_PAINT is loaded by then, nor
    PySide6's `Qt` namespace."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTED_ACCOUNTS")}
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        env[name] = str(tmp_path / name.lower())
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env.update(
        XDG_RUNTIME_DIR=str(runtime),
        TMPDIR=str(tmp_path),  # the single-instance socket: this run's own
        QT_QPA_PLATFORM="offscreen",
        PYTHONPATH=str(ROOT),
    )
    cache_file = tmp_path / "xdg_cache_home" / "connected-accounts" / CACHE_FILE
    saved = Cache(cache_file, BACKEND)
    saved.save_connections([data.connection("a"), data.connection("b")])
    saved.close()
    assert cache_file.exists()
    done = subprocess.run(
        [sys.executable, "-c", _REAL_START, BACKEND],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["code"] == 0
    loaded = answer["modules"]
    assert loaded is not None, "the window never painted the saved list"
    early = [
        m for m in loaded if any(m == n or m.startswith(f"{n}.") for n in NOT_BEFORE_FIRST_PAINT)
    ]
    assert early == []
    # Nor PySide6's `Qt` namespace: its first use builds all 93 of its enums (~20 ms).
    assert answer["qt"] is False


@pytest.mark.parametrize("text", ["<h1>x</h1>", "a < b & c > d", "&amp;<&>", "<'\"quoted\"'>"])
def test_rich_safe_escapes_as_html_escape_does(text: str) -> None:
    """desktop.models.format escapes without importing `html` (not needed before the first
    paint); the result is the same as html.escape(text, quote=False)."""
    import html

    from desktop.models.format import rich_safe

    assert (
        rich_safe(text) == f'<p style="white-space:pre-wrap">{html.escape(text, quote=False)}</p>'
    )
