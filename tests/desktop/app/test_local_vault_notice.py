"""The window says plainly where the local service keeps its vault key (real service)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QIcon

from desktop.account.local_backend import LocalBackend
from desktop.account.secure_store import MemoryStore
from desktop.app.backend_link import BackendLink
from desktop.app.controller import Controller
from desktop.app.notify import Notifier
from desktop.models.cache import Cache
from desktop.models.connections import ConnectionsModel
from desktop.views.main_window import MainWindow
from tests.support.localsvc import LocalHome


@pytest.fixture
def no_keyring_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalHome]:
    """A service started (by a command) in a session with no Secret Service."""
    (tmp_path / "svc").mkdir()
    home = LocalHome(tmp_path / "svc", keyring=False)
    try:
        started = home.cli("service", "start")
        assert started.returncode == 0, started.stderr
        monkeypatch.setenv("XDG_RUNTIME_DIR", home.env["XDG_RUNTIME_DIR"])
        monkeypatch.setenv("CONNECTED_ACCOUNTS_DATA_DIR", home.env["CONNECTED_ACCOUNTS_DATA_DIR"])
        yield home
    finally:
        home.close()


def test_without_a_keyring_the_window_says_the_vault_key_is_in_a_file(
    qtbot: Any, no_keyring_home: LocalHome, tmp_cache_path: Path
) -> None:
    model = ConnectionsModel()
    window = MainWindow(model)
    qtbot.addWidget(window)
    window.show()
    cache = Cache(tmp_cache_path, "embedded")
    controller = Controller(window, model, cache, Notifier(QIcon(), window))
    link = BackendLink(controller, None, local_factory=lambda: LocalBackend(store=MemoryStore()))
    with qtbot.waitSignal(link.ready, timeout=60_000):
        link.start()
    try:
        assert window.vault_banner.isVisible()
        text = window.vault_banner.text()
        assert "companion service running on this computer" in text
        assert "no system keyring here" in text
        assert "kept in a file" in text
        assert "Anyone who can read your files" in text
        assert window.vault_banner.property("kind") == "warning"
        assert "on this computer" in window.backend_text.text()
    finally:
        link.stop()
        cache.close()
