"""Desktop tests: offscreen Qt, private folders per test, and any Qt warning fails the test.

A test that uses Qt through pytest-qt (qtbot, qapp, qtmodeltester, directly or through a
fixture) is marked `gui`: `./dev test --busy -m gui tests/desktop` is CI's GUI suite re-run
with both cores busy."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

HERE = Path(__file__).resolve().parent


QT_FIXTURES = frozenset({"qtbot", "qapp", "qtmodeltester"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            if QT_FIXTURES.intersection(getattr(item, "fixturenames", ())):
                item.add_marker(pytest.mark.gui)
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))
            # The offscreen platform plugin says this whenever a window is shown; not our code.
            item.add_marker(pytest.mark.qt_log_ignore(r"does not support propagateSizeHints"))


@pytest.fixture(autouse=True)
def _private_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings, cache and logs of each test go to its own folder, never the real home."""
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / "home" / name.lower()))
    QSettings.setPath(
        QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings")
    )


@pytest.fixture
def tmp_cache_path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "cache.sqlite3"


@pytest.fixture(autouse=True)
def _wait_for_background_tasks() -> Iterator[None]:
    """No worker from one test may call back into the next."""
    yield
    from desktop.app import live
    from desktop.concurrency import tasks

    for updates in list(live._running):  # a live-update reader would outlive its window
        updates.stop()
    assert tasks.shutdown(10_000)
