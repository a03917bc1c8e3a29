"""The real window and controller on a REAL backend process (`serve --embedded`, Demo Ads
inside): changes made elsewhere through the API reach the list with no user action, and the
window reconnects after the backend restarts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from PySide6.QtGui import QIcon

from backend.sandbox.admin import admin_headers, read_token_file
from desktop.account.secure_store import MemoryStore
from desktop.account.session import Session
from desktop.api.client import ApiClient
from desktop.app.controller import Controller
from desktop.app.notify import Notifier
from desktop.connect.flow import run_connect
from desktop.models.cache import Cache
from desktop.models.connections import Connection, ConnectionsModel
from desktop.views.main_window import MainWindow
from tests.desktop.app.test_live_backend import Browser
from tests.support.servers import bind_loopback

ROOT = Path(__file__).resolve().parents[3]
EMAIL = "live@example.test"
PASSWORD = "live-updates-password-1"
DEADLINE_MS = 30_000


def _ready(pipe: IO[str], timeout: float) -> str:
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(pipe.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert box, "the backend did not say READY"
    return box[0]


class Service:
    """`connected-accounts-backend serve --embedded` on a fixed loopback port."""

    def __init__(self, home: Path) -> None:
        self.env = {**os.environ, "CONNECTED_ACCOUNTS_DATA_DIR": str(home / "data")}
        sock = bind_loopback()
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        args = ["serve", "--host", "127.0.0.1", "--port", str(self.port), "--embedded"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", *args],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=self.env, cwd=ROOT,
        )  # fmt: skip
        assert self.proc.stdout is not None
        assert _ready(self.proc.stdout, 60).split() == ["READY", self.url]

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.terminate()
            proc.wait(30)
            assert proc.stdout is not None
            proc.stdout.close()

    def create_user(self) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "backend.cli", "create-user", EMAIL, "--password-stdin",
             "--embedded"],
            input=PASSWORD + "\n", capture_output=True, text=True, env=self.env, cwd=ROOT,
            timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    def sign_in(self) -> Session:
        """Another device of the test user, signed in the way the desktop signs in."""
        session = Session(self.url, MemoryStore())
        session.login(EMAIL, PASSWORD, device_name="pytest")
        return session


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(tmp_path)
    svc.start()
    svc.create_user()
    yield svc
    svc.stop()


class Window:
    def __init__(self, qtbot: Any, service: Service, cache_path: Path) -> None:
        self.qtbot = qtbot
        self.model = ConnectionsModel()
        self.window = MainWindow(self.model)
        qtbot.addWidget(self.window)
        self.window.show()
        self.notifier = Notifier(QIcon(), self.window)
        self.cache = Cache(cache_path, "embedded")
        self.controller = Controller(self.window, self.model, self.cache, self.notifier)
        self.reloads = 0
        self.refreshes = 0
        self.applied: list[tuple[str, str]] = []
        self.controller.list_reloaded.connect(self._count_reload)
        self.controller.live_change_applied.connect(lambda k, c: self.applied.append((k, c)))
        self.window.refresh_requested.connect(self._count_refresh)
        self.client = ApiClient(service.url, auth=service.sign_in())

    def _count_reload(self) -> None:
        self.reloads += 1

    def _count_refresh(self) -> None:
        self.refreshes += 1

    def attach(self) -> None:
        with self.qtbot.waitSignal(self.controller.list_reloaded, timeout=DEADLINE_MS):
            self.controller.attach(self.client)

    def status_of(self, connection_id: str) -> str | None:
        item = self.model.get(connection_id)
        return None if item is None else item.status


@pytest.fixture
def gui(qtbot: Any, service: Service, tmp_cache_path: Path) -> Iterator[Window]:
    w = Window(qtbot, service, tmp_cache_path)
    yield w
    w.controller.attach(None)
    w.cache.close()


def connect_elsewhere(client: ApiClient) -> Connection:
    browser = Browser()
    connection = run_connect(client, "demo", open_browser=browser, timeout=30)
    browser.join()
    return connection


def test_changes_made_elsewhere_reach_the_list_with_no_user_action(
    gui: Window, service: Service
) -> None:
    gui.attach()
    reloads = gui.reloads
    with ApiClient(service.url, auth=service.sign_in()) as elsewhere:  # another device
        made = connect_elsewhere(elsewhere)
        gui.qtbot.waitUntil(lambda: gui.status_of(made.id) == "connected", timeout=DEADLINE_MS)
        assert ("connected", made.id) in gui.applied  # it came by the event stream

        token = read_token_file(Path(service.env["CONNECTED_ACCOUNTS_DATA_DIR"]))
        revoked = httpx.post(
            f"{service.url}/sandbox/admin/grants/revoke", headers=admin_headers(token), timeout=10
        )
        assert revoked.status_code == 200
        with gui.qtbot.waitSignal(gui.notifier.shown, timeout=DEADLINE_MS) as shown:
            assert elsewhere.connection(made.id, check=True).status == "needs_reconnect"
        assert shown.args[0] == "Demo Ads needs reconnecting"
        row = gui.window.accounts.row_for(made.id)
        assert row is not None
        assert row.badge.text() == "Needs reconnect"
        assert "Reconnect" in row.detail.text()

        elsewhere.disconnect(made.id)
        gui.qtbot.waitUntil(lambda: gui.model.get(made.id) is None, timeout=DEADLINE_MS)
    assert gui.reloads == reloads  # no re-read of the list ...
    assert gui.refreshes == 0  # ... and nobody pressed Refresh


def test_after_the_backend_restarts_the_window_reconnects_and_follows_again(
    gui: Window, service: Service
) -> None:
    gui.attach()
    reloads = gui.reloads
    service.stop()
    service.start()  # same port, same database
    # Reopened (with backoff) and the list read again: changes made meanwhile are not missed.
    gui.qtbot.waitUntil(lambda: gui.reloads > reloads, timeout=60_000)
    with ApiClient(service.url, auth=service.sign_in()) as elsewhere:
        made = connect_elsewhere(elsewhere)
    gui.qtbot.waitUntil(lambda: gui.status_of(made.id) == "connected", timeout=DEADLINE_MS)
    assert ("connected", made.id) in gui.applied
    assert gui.refreshes == 0


def test_a_change_made_while_the_stream_was_closed_is_read_when_it_reopens(
    gui: Window, service: Service
) -> None:
    gui.attach()
    gui.controller.live.stop()
    with ApiClient(service.url, auth=service.sign_in()) as elsewhere:
        made = connect_elsewhere(elsewhere)
    assert gui.model.get(made.id) is None
    with gui.qtbot.waitSignal(gui.controller.list_reloaded, timeout=DEADLINE_MS):
        gui.controller.live.start()
    assert gui.status_of(made.id) == "connected"
    assert ("connected", made.id) not in gui.applied  # the re-read brought it
