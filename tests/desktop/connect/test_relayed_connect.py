"""The window connects a backend-relayed provider against the REAL local companion service.

Demo Ads is configured like Meta (`redirect = "backend"`): the person's browser consents, the
backend's relay redeems the code, parks the grant and sends the browser to the app's real
loopback receiver with a one-time ticket; the window's connect dialog claims the grant with
it (design: "Backend-relayed redirect").
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtGui import QIcon

from desktop.account import localsvc
from desktop.account.local_backend import LocalBackend
from desktop.account.secure_store import MemoryStore
from desktop.api.client import ApiClient
from desktop.app.controller import Controller
from desktop.app.notify import Notifier
from desktop.models.cache import Cache
from desktop.models.connections import ConnectionsModel
from desktop.views.main_window import MainWindow
from tests.support.browser import play_consent


class RelayBrowser:
    """Consent as a person, then follow the relay's redirect to the app's receiver."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.seen: list[str] = []
        self.threads: list[threading.Thread] = []

    def __call__(self, url: str) -> bool:
        def run() -> None:
            try:
                at_backend = play_consent(url)
                relayed = httpx.get(at_backend, follow_redirects=False, timeout=30)
                assert relayed.status_code == 303, relayed.text
                home = relayed.headers["location"]
                self.seen.append(home)
                page = httpx.get(home, timeout=30)
                assert page.status_code == 200, page.text
            except BaseException as exc:  # handed to the test thread
                self.errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.threads.append(thread)
        return True

    def join(self) -> None:
        for thread in self.threads:
            thread.join(30)
        assert self.errors == []


@pytest.fixture(scope="module")
def relay_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    """A local service of this module's own (runtime and data folders), whose Demo Ads relays
    through the backend; the window's link finds it through this process's environment."""
    home = tmp_path_factory.mktemp("relay-backend-home")
    (home / "run").mkdir(mode=0o700)
    config = home / "providers.toml"
    config.write_text('[providers.demo]\npreset = "demo"\nredirect = "backend"\n')
    values = {
        "XDG_RUNTIME_DIR": str(home / "run"),
        "CONNECTED_ACCOUNTS_DATA_DIR": str(home / "backend-data"),
        "CONNECTED_ACCOUNTS_CONFIG": str(config),
    }
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        values[name] = str(home / name.lower())
    with pytest.MonkeyPatch.context() as mp:
        for name, value in values.items():
            mp.setenv(name, value)
        local = LocalBackend(store=MemoryStore())
        try:
            local.start()
            yield local
        finally:
            local.stop()
            localsvc.stop()  # never leave the service behind


def test_the_window_connects_a_relayed_provider_with_the_ticket(
    qtbot: Any, relay_backend: LocalBackend, tmp_cache_path: Path
) -> None:
    assert relay_backend.base_url is not None
    model = ConnectionsModel()
    window = MainWindow(model)
    qtbot.addWidget(window)
    cache = Cache(tmp_cache_path, "embedded")
    browser = RelayBrowser()
    controller = Controller(window, model, cache, Notifier(QIcon(), window), open_url=browser)
    client = ApiClient(relay_backend.base_url, auth=relay_backend.session)
    try:
        with qtbot.waitSignal(controller.connections_loaded, timeout=10_000):
            controller.attach(client)
        dialog = controller.open_connect(None)
        assert dialog is not None
        qtbot.waitUntil(lambda: dialog.provider_list.count() >= 1, timeout=10_000)
        with qtbot.waitSignal(dialog.connection_added, timeout=30_000) as blocker:
            dialog.continue_button.click()
        browser.join()
        assert len(browser.seen) == 1
        assert "relay_ticket=" in browser.seen[0]
        assert "code=" not in browser.seen[0]
        connection = blocker.args[0]
        assert connection.status == "connected"
        row = window.accounts.row_for(connection.id)
        assert row is not None
        assert row.badge.text() == "Connected"
    finally:
        controller.attach(None)
        cache.close()
