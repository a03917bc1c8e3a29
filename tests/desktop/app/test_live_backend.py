"""The window against the REAL local companion service (a detached process) with Demo Ads.

The test plays the person's browser over HTTP (tests/support/browser.py), then follows the
redirect to the app's real loopback receiver — the same path a browser takes.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QDialogButtonBox

from backend.sandbox.admin import admin_headers, read_token_file
from desktop.account import localsvc
from desktop.account.local_backend import LocalBackend
from desktop.account.secure_store import MemoryStore
from desktop.api.client import ApiClient
from desktop.app.backend_link import BackendLink
from desktop.app.controller import Controller
from desktop.app.notify import Notifier
from desktop.connect.flow import run_connect
from desktop.models.cache import Cache
from desktop.models.connections import ConnectionsModel
from desktop.views.main_window import MainWindow
from tests.desktop.support import data
from tests.support.browser import play_consent


class Browser:
    """Opens an authorization URL the way a person would: consent, then follow the redirect."""

    def __init__(self, decision: str = "allow") -> None:
        self.decision = decision
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []

    def __call__(self, url: str) -> bool:
        def run() -> None:
            try:
                location = play_consent(url, decision=self.decision)
                httpx.get(location, timeout=10)
            except BaseException as exc:  # handed to the test thread
                self.errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.threads.append(thread)
        return True

    def join(self) -> None:
        for thread in self.threads:
            thread.join(10)
        assert self.errors == []


@pytest.fixture(scope="module")
def backend_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """This module's own runtime and data folders, in this process's environment too (the
    window's link finds the service through them)."""
    home = tmp_path_factory.mktemp("backend-home")
    (home / "run").mkdir(mode=0o700)
    values = {
        "XDG_RUNTIME_DIR": str(home / "run"),
        "CONNECTED_ACCOUNTS_DATA_DIR": str(home / "backend-data"),
    }
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        values[name] = str(home / name.lower())
    with pytest.MonkeyPatch.context() as mp:
        for name, value in values.items():
            mp.setenv(name, value)
        yield dict(os.environ)


@pytest.fixture(scope="module")
def backend(backend_env: dict[str, str]) -> Iterator[LocalBackend]:
    local = LocalBackend(store=MemoryStore())
    try:
        local.start()
        yield local
    finally:
        local.stop()
        localsvc.stop()  # never leave the service behind


@pytest.fixture(scope="module")
def connected(backend: LocalBackend) -> dict[str, Any]:
    """One Demo Ads connection made through the real flow (without the window)."""
    assert backend.base_url is not None
    with ApiClient(backend.base_url, auth=backend.session) as client:
        browser = Browser()
        connection = run_connect(client, "demo", open_browser=browser, timeout=30)
        browser.join()
    return connection.body


class Gui:
    def __init__(self, qtbot: Any, backend: LocalBackend, cache_path: Path) -> None:
        assert backend.base_url is not None
        self.qtbot = qtbot
        self.url = backend.base_url
        self.model = ConnectionsModel()
        self.window = MainWindow(self.model)
        qtbot.addWidget(self.window)
        self.cache = Cache(cache_path, "embedded")
        self.notifier = Notifier(QIcon(), self.window)
        self.browser = Browser()
        self.controller = Controller(
            self.window, self.model, self.cache, self.notifier, open_url=self.browser
        )
        self.client = ApiClient(
            self.url, auth=backend.session, rebase=backend.rebase, loopback=True
        )

    def attach(self) -> None:
        with self.qtbot.waitSignal(self.controller.connections_loaded, timeout=10_000):
            self.controller.attach(self.client)
        self.qtbot.waitUntil(self.checks_done, timeout=10_000)

    def checks_done(self) -> bool:
        return not any(c.checking for c in self.model.items())


@pytest.fixture
def gui(qtbot: Any, backend: LocalBackend, tmp_cache_path: Path) -> Iterator[Gui]:
    g = Gui(qtbot, backend, tmp_cache_path)
    yield g
    g.controller.attach(None)  # closes the client
    g.cache.close()


def test_connect_in_the_browser_adds_the_connection_at_once(gui: Gui) -> None:
    gui.attach()
    dialog = gui.controller.open_connect(None)
    assert dialog is not None
    gui.qtbot.waitUntil(lambda: dialog.provider_list.count() >= 1, timeout=10_000)
    assert dialog.provider_list.item(0).text() == "Demo Ads"
    with gui.qtbot.waitSignal(dialog.connection_added, timeout=20_000) as blocker:
        dialog.continue_button.click()
    gui.browser.join()
    connection_id = blocker.args[0].id
    row = gui.window.accounts.row_for(connection_id)
    assert row is not None
    assert row.badge.text() == "Connected"
    assert row.title.text() == "Dana Demo"
    gui.qtbot.waitUntil(lambda: connection_id in {c["id"] for c in gui.cache.load_connections()})


def test_grant_revoked_at_the_provider_shows_needs_reconnect(
    gui: Gui, connected, backend_env: dict[str, str]
) -> None:
    gui.attach()
    assert gui.model.get(connected["id"]).status == "connected"  # type: ignore[union-attr]
    token = read_token_file(Path(backend_env["CONNECTED_ACCOUNTS_DATA_DIR"]))
    answer = httpx.post(
        f"{gui.url}/sandbox/admin/grants/revoke", headers=admin_headers(token), timeout=10
    )
    assert answer.status_code == 200
    with gui.qtbot.waitSignal(gui.notifier.shown, timeout=10_000) as blocker:
        gui.window.refresh_action.trigger()
    assert blocker.args[0] == "Demo Ads needs reconnecting"
    gui.qtbot.waitUntil(gui.checks_done, timeout=10_000)
    row = gui.window.accounts.row_for(connected["id"])
    assert row is not None
    assert row.badge.text() == "Needs reconnect"
    assert row.detail.text()  # the reason in words
    # Reconnect repairs the same connection (no duplicate).
    dialog = gui.controller.open_connect("demo")
    assert dialog is not None
    with gui.qtbot.waitSignal(dialog.connection_added, timeout=20_000) as done:
        pass  # the provider is preselected: the flow starts by itself
    gui.browser.join()
    assert done.args[0].id == connected["id"]
    assert gui.model.get(connected["id"]).status == "connected"  # type: ignore[union-attr]


def test_report_table_totals_chart_and_csv(gui: Gui, connected, tmp_path: Path) -> None:
    gui.attach()
    reports = gui.window.reports
    reports.show_connection(connected["id"])
    reports.level_box.setCurrentIndex(reports.level_box.findData("campaign"))
    reports.preset_box.setCurrentText("Last 30 days")
    with gui.qtbot.waitSignal(reports.report_loaded, timeout=20_000):
        reports.load_button.click()
    report = data.whole(reports.table.model)
    assert report["level"] == "campaign"
    assert reports.table.model.rowCount() == len(report["rows"]) > 0
    totals = reports.table.totals_model
    assert totals.index(0, 0).data() == "Total"
    spend = reports.table.model.column_of("spend")
    assert totals.index(0, spend).data().replace(",", "") == report["totals"]["spend"]
    dates = {row[0] for row in report["rows"]}
    gui.qtbot.waitUntil(lambda: reports.chart.series.count() == len(dates))
    target = tmp_path / "export.csv"
    with gui.qtbot.waitSignal(reports.export_finished, timeout=10_000):
        reports.export_to(target)
    # The command line's CSV format: a header of keys, the rows, no total row.
    lines = list(csv.reader(target.open(encoding="utf-8")))
    assert len(lines) == len(report["rows"]) + 1
    assert lines[0][:3] == ["date", "account_id", "currency"]
    assert "Total" not in {line[0] for line in lines}
    gui.qtbot.waitUntil(lambda: gui.cache.load_report(connected["id"]) is not None)


def test_backend_down_shows_words_and_keeps_the_cached_view(
    qtbot: Any, backend: LocalBackend, tmp_cache_path: Path, connected
) -> None:
    seed = Cache(tmp_cache_path, "embedded")
    seed.save_connections([connected])
    gui = Gui(qtbot, backend, tmp_cache_path)
    gui.controller.load_cached()
    qtbot.waitUntil(lambda: gui.model.rowCount() == 1)
    with socket_nobody_listens_on() as dead_url:
        gui.client = ApiClient(dead_url, auth=backend.session)
        with qtbot.waitSignal(gui.controller.backend_failed, timeout=20_000) as blocker:
            gui.controller.attach(gui.client)
    assert "reach" in blocker.args[0].lower()
    assert gui.window.offline_banner.isVisibleTo(gui.window)
    assert gui.model.rowCount() == 1
    assert gui.window.accounts.rows[0].title.text() == "Dana Demo"
    gui.controller.attach(None)
    seed.close()


def test_disconnect_revokes_and_removes_the_row(gui: Gui, connected) -> None:
    gui.attach()
    dialog = gui.controller._on_accounts_disconnect_requested(connected["id"])
    assert dialog is not None
    assert "ask Demo Ads to revoke access" in dialog.message.text()
    with gui.qtbot.waitSignal(dialog.disconnected, timeout=20_000) as blocker:
        dialog.confirm_button.click()
    assert blocker.args == [connected["id"], False]
    assert "revoked at Demo Ads" in dialog.message.text()
    assert gui.model.get(connected["id"]) is None
    assert connected["id"] not in {c.id for c in gui.client.connections()}


def test_remote_backend_sign_in_and_sign_out(
    qtbot: Any, backend: LocalBackend, backend_env: dict[str, str], tmp_cache_path: Path
) -> None:
    email, password = "analyst@example.com", "correct horse battery staple"
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "backend.cli",
            "create-user",
            email,
            "--password-stdin",
            "--embedded",
        ],
        input=password + "\n",
        env=backend_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    gui = Gui(qtbot, backend, tmp_cache_path)
    link = BackendLink(gui.controller, gui.url, store_factory=MemoryStore)
    link.start()
    qtbot.waitUntil(lambda: link.sign_in_dialog is not None, timeout=10_000)
    dialog = link.sign_in_dialog
    assert dialog is not None
    assert dialog.url_edit.text() == gui.url
    assert gui.window.session_banner.isVisibleTo(gui.window)
    dialog.email_edit.setText(email)
    dialog.password_edit.setText("wrong password")
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    ok.click()
    qtbot.waitUntil(lambda: dialog.error_label.isVisibleTo(dialog), timeout=20_000)
    assert password not in dialog.error_label.text()
    assert dialog.password_edit.text() == ""
    dialog.password_edit.setText(password)
    with qtbot.waitSignal(gui.controller.connections_loaded, timeout=20_000):
        ok.click()
    assert f"signed in as {email}" in gui.window.backend_text.text()
    assert not gui.window.session_banner.isVisibleTo(gui.window)
    assert gui.model.rowCount() == 0  # this user has no connections of their own
    session = link.session
    assert session is not None
    old_token = session.access_token()
    link.sign_out()
    assert gui.controller.client is None
    assert gui.window.session_banner.isVisibleTo(gui.window)
    assert "signed out" in gui.window.session_banner.text()
    # The backend is told on a worker; once it has been, the device's token opens nothing.
    qtbot.waitUntil(lambda: not session.signed_in, timeout=20_000)
    refused = httpx.get(
        f"{gui.url}/v1/connections", headers={"Authorization": f"Bearer {old_token}"}, timeout=10
    )
    assert refused.status_code == 401


class socket_nobody_listens_on:  # reads as a phrase at the call site
    """A loopback URL whose port was just closed: connecting is refused at once."""

    def __enter__(self) -> str:
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        return None
