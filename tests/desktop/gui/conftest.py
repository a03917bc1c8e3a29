"""GUI tests: offscreen Qt, private XDG folders, and any Qt warning fails the test."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before any QApplication: QSettings, the cache and the embedded backend write under these.
_HOME = Path(tempfile.mkdtemp(prefix="ca-gui-tests-"))
for _name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
    os.environ[_name] = str(_HOME / _name.lower())
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.gui)
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))
            # The offscreen platform plugin says this whenever a window is shown; not our code.
            item.add_marker(pytest.mark.qt_log_ignore(r"does not support propagateSizeHints"))


@pytest.fixture
def tmp_cache_path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "cache.sqlite3"


@pytest.fixture(autouse=True)
def _wait_for_background_tasks() -> Iterator[None]:
    """No worker from one test may call back into the next."""
    yield
    from desktop import tasks

    assert tasks.shutdown(10_000)
