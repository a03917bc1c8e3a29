"""Issue 18 "Polish": banners, the status bar and the words a new user meets in the first hour.

Each test is the one that would have caught the surprise the issue reports.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

from keyrings.alt.file import PlaintextKeyring
from PySide6.QtGui import QIcon

from desktop.account.secure_store import MemoryStore, open_store
from desktop.api.errors import ApiError
from desktop.app.backend_link import BackendLink
from desktop.app.controller import Controller
from desktop.app.notify import Notifier
from desktop.concurrency import columnar, tasks
from desktop.models.cache import Cache
from desktop.models.connection import Connection
from desktop.models.connections import ConnectionsModel
from desktop.views.main_window import MainWindow
from desktop.views.widgets import Banner
from tests.desktop.support import data
from tests.desktop.support.fakes import FakeApi


def dead_url() -> str:
    """A loopback URL whose port was just closed: connecting is refused at once."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


class Parts:
    def __init__(self, qtbot: Any, tmp_path: Path) -> None:
        self.qtbot = qtbot
        self.model = ConnectionsModel()
        self.window = MainWindow(self.model)
        qtbot.addWidget(self.window)
        self.window.show()
        self.notifier = Notifier(QIcon(), self.window)
        self.cache = Cache(tmp_path / "cache.sqlite3", "x")
        self.controller = Controller(self.window, self.model, self.cache, self.notifier)

    def visible_banners(self) -> list[str]:
        return [b.text() for b in self.window.findChildren(Banner) if b.isVisibleTo(self.window)]

    def attach(self, api: FakeApi) -> None:
        # Both reads of the list: the first, and the one when live updates open. A busy machine
        # may deliver the second during a test's later check, as it may the real app's.
        signals = [self.controller.connections_loaded, self.controller.list_reloaded]
        with self.qtbot.waitSignals(signals, timeout=10_000):
            self.controller.attach(api)  # type: ignore[arg-type]
        self.qtbot.waitUntil(lambda: not any(c.checking for c in self.model.items()))


def _needs_reconnect(parts: Parts, api: FakeApi) -> None:
    api.items["a"] = data.connection("a", status="needs_reconnect", reason="Revoked at Demo Ads.")
    with parts.qtbot.waitSignal(parts.notifier.shown, timeout=10_000):
        parts.controller.check_all()
    assert not parts.notifier.uses_tray  # Xvfb has no tray: the notice is the in-window banner
    assert parts.window.notice_banner.isVisibleTo(parts.window)


def test_reconnect_banner_fits_the_window_and_goes_when_the_connection_is_disconnected(
    qtbot: Any, tmp_path: Path
) -> None:
    parts = Parts(qtbot, tmp_path)
    api = FakeApi([data.connection("a")])
    parts.attach(api)
    _needs_reconnect(parts, api)
    words = parts.window.notice_banner.text()
    assert "Demo Ads needs reconnecting" in words
    assert "Open Connected Accounts" not in words  # the user is in it already
    assert "Reconnect" in words
    parts.controller._on_dialog_disconnected("a", False)  # the disconnect dialog's outcome
    assert not parts.window.notice_banner.isVisibleTo(parts.window)
    assert parts.visible_banners() == [parts.window.vault_banner.text()] or (
        parts.visible_banners() == []
    )


def test_reconnect_banner_goes_when_the_connection_is_fine_again(
    qtbot: Any, tmp_path: Path
) -> None:
    parts = Parts(qtbot, tmp_path)
    api = FakeApi([data.connection("a")])
    parts.attach(api)
    _needs_reconnect(parts, api)
    api.items["a"] = data.connection("a")  # reconnected
    with qtbot.waitSignal(parts.controller.check_finished, timeout=10_000):
        parts.controller.check_all()
    assert not parts.window.notice_banner.isVisibleTo(parts.window)


def test_reconnect_notice_outside_the_app_still_says_where_to_go(
    qtbot: Any, tmp_path: Path
) -> None:
    parts = Parts(qtbot, tmp_path)
    api = FakeApi([data.connection("a")])
    parts.attach(api)
    api.items["a"] = data.connection("a", status="needs_reconnect", reason="Revoked.")
    with qtbot.waitSignal(parts.notifier.shown, timeout=10_000) as shown:
        parts.controller.check_all()
    assert "Open Connected Accounts" in shown.args[1]  # the tray's words, outside the window


def test_keyring_banner_says_it_once(qtbot: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    store = open_store(PlaintextKeyring())  # refused: a plaintext file is no keyring
    assert isinstance(store, MemoryStore)
    parts = Parts(qtbot, tmp_path)
    for remote in (False, True):
        parts.window.set_memory_only(True, store.reason, remote=remote)
        text = parts.window.memory_banner.text()
        assert text.lower().count("no system keyring is available") == 1, text
        assert "PlaintextKeyring" in text
        assert "((" not in text
        assert "))" not in text


def test_signed_out_device_gets_one_sign_in_banner_saying_it_once(
    qtbot: Any, tmp_path: Path
) -> None:
    parts = Parts(qtbot, tmp_path)
    parts.window.set_remote(True, signed_in=True)  # a team backend; the built-in one signs in
    api = FakeApi([data.connection("a")])
    parts.attach(api)

    def refused() -> list[dict[str, Any]]:  # what desktop.account.session raises for a gone device
        from desktop.account.session import _sign_in_again, sign_in_needed

        raise sign_in_needed(_sign_in_again("This device was signed out; sign in again."))

    api.connections = refused  # type: ignore[method-assign]
    with qtbot.waitSignal(parts.controller.backend_failed, timeout=10_000) as failed:
        parts.controller.refresh()
    assert failed.args[0].lower().count("sign in again") == 1
    assert parts.window.session_banner.isVisibleTo(parts.window)
    assert not parts.window.offline_banner.isVisibleTo(parts.window)
    assert parts.window.status_text.text() == "Not signed in"


def test_connect_ends_with_connected_in_the_status_bar(qtbot: Any, tmp_path: Path) -> None:
    parts = Parts(qtbot, tmp_path)
    api = FakeApi([])
    parts.attach(api)
    assert parts.window.status_text.text() == "No connections yet"
    dialog = parts.controller.open_connect("demo")
    assert dialog is not None
    new = data.connection("new", name="Dana Demo")
    api.items["new"] = new
    dialog.connection_added.emit(Connection.from_api(new))  # the dialog's word: flow finished
    assert parts.window.status_text.text() == "Connected Dana Demo (Demo Ads)."
    with qtbot.waitSignal(parts.controller.check_finished, timeout=10_000):
        parts.controller.check_all()
    assert "No connections yet" not in parts.window.status_text.text()
    dialog.reject()


class FakeSession:
    """What BackendLink reads of a session: the built-in backend signs in by itself."""

    persistent = True
    storage_reason = None
    user_email = None

    def access_token(self) -> str:
        return "local-token"

    def invalidate(self) -> None:
        pass


class FakeLocal:
    """The local companion service, as BackendLink sees it; nothing listens at its URL."""

    def __init__(self) -> None:
        self.session = FakeSession()
        self.url = dead_url()

    def start(self) -> str:
        return self.url

    def stop(self) -> None:
        pass

    def vault_key(self) -> dict[str, str]:
        return {}

    def rebase(self) -> str:  # "find the service again": still nobody there
        return self.url


def test_status_bar_follows_a_switch_to_a_remote_backend(qtbot: Any, tmp_path: Path) -> None:
    parts = Parts(qtbot, tmp_path)
    link = BackendLink(
        parts.controller,
        None,
        local_factory=FakeLocal,  # type: ignore[arg-type]
        store_factory=MemoryStore,
    )
    link.start()
    qtbot.waitUntil(lambda: parts.controller.client is not None, timeout=10_000)
    assert parts.window.backend_text.text() == "Companion service on this computer"
    remote = "https://accounts.example.test"
    link.switch(remote)
    qtbot.waitUntil(lambda: link.sign_in_dialog is not None, timeout=10_000)
    assert "on this computer" not in parts.window.backend_text.text()
    assert remote in parts.window.backend_text.text()
    assert parts.window.status_text.text() == "Not signed in"
    assert link.sign_in_dialog is not None
    link.sign_in_dialog.reject()


class SlowDeadApi(FakeApi):
    """A backend whose list answers late, and then with "cannot reach": the one the user left."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.answered = threading.Event()

    def connections(self) -> list[Connection]:
        self.gate.wait(10)
        self.answered.set()
        raise ApiError("network", "Cannot reach the backend at http://127.0.0.1:9.")


def test_a_late_failure_from_the_backend_left_behind_does_not_touch_the_new_one(
    qtbot: Any, tmp_path: Path
) -> None:
    """The busy-machine failure of the test above: the old list's "cannot reach" came after the
    switch and painted "Not connected" over the new backend's state."""
    parts = Parts(qtbot, tmp_path)
    old = SlowDeadApi()
    parts.controller.attach(old)  # type: ignore[arg-type]
    parts.attach(FakeApi([data.connection("a")]))  # the user moves on before the old answers
    assert [c.id for c in parts.model.items()] == ["a"]
    old.gate.set()
    assert old.answered.wait(10)
    qtbot.waitUntil(lambda: not tasks._running, timeout=10_000)  # its answer was delivered
    assert parts.window.status_text.text().startswith("All connections checked at")
    assert not parts.window.offline_banner.isVisibleTo(parts.window)
    assert [c.id for c in parts.model.items()] == ["a"]


def test_one_wrong_backend_address_shows_one_banner(qtbot: Any, tmp_path: Path) -> None:
    """Before: offline, sign-in, keyring and a stale reconnect notice were stacked."""
    parts = Parts(qtbot, tmp_path)
    api = FakeApi([data.connection("a")])
    parts.attach(api)
    _needs_reconnect(parts, api)
    parts.window.set_memory_only(True, "the keyring is locked", remote=False)
    link = BackendLink(parts.controller, None, store_factory=MemoryStore)
    link.switch(dead_url())
    qtbot.waitUntil(lambda: link.sign_in_dialog is not None, timeout=10_000)
    dialog = link.sign_in_dialog
    assert dialog is not None
    assert len(parts.visible_banners()) == 1, parts.visible_banners()
    # Then the backend turns out to be unreachable: still one banner, the one that says so.
    parts.controller._on_backend_failed(ApiError("network", "Cannot reach the backend."))
    assert parts.visible_banners() == ["Cannot reach the backend."]
    dialog.reject()


def _waiting_dialog(qtbot: Any, open_url: Any) -> Any:

    from desktop.views.connect_dialog import ConnectDialog

    def connect(provider: str, open_browser: Any, cancel: threading.Event) -> dict[str, Any]:
        open_browser("https://demo.example/authorize?state=s&x=1")
        cancel.wait(30)
        raise ApiError("cancelled", "Cancelled.")

    dialog = ConnectDialog(FakeApi().providers, connect, open_url=open_url)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.provider_list.count() == 2)
    dialog.continue_button.click()
    qtbot.waitUntil(lambda: dialog.copy_button.isEnabled())
    return dialog


def _assert_link_offered(qtbot: Any, dialog: Any) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication

    qtbot.waitUntil(lambda: dialog.link_text.isVisibleTo(dialog), timeout=10_000)
    assert dialog.wait_text.text() == "Your browser did not open. Open this link yourself:"
    assert "allow access in the browser window that just opened" not in dialog.wait_text.text()
    assert dialog.link_text.text() == "https://demo.example/authorize?state=s&x=1"
    flags = dialog.link_text.textInteractionFlags()
    assert flags & Qt.TextInteractionFlag.TextSelectableByMouse
    assert dialog.copy_button.isEnabled()
    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == dialog.link_text.text()
    dialog.reject()


def test_browser_that_does_not_open_shows_the_link(qtbot: Any) -> None:
    """QDesktopServices.openUrl answered False."""
    _assert_link_offered(qtbot, _waiting_dialog(qtbot, lambda _url: False))


def test_browser_that_dies_at_once_shows_the_link(qtbot: Any) -> None:
    """The app's opener (desktop.connect.browser, Qt's http(s) handler as in run_gui) starts the
    launcher through QDesktopServices.openUrl; the launcher exits with an error straight
    away, as Chromium run as root without --no-sandbox does (a real process)."""
    import sys

    from PySide6.QtWidgets import QApplication

    from desktop.connect import browser
    from desktop.views.connect_dialog import open_in_browser

    launcher = [sys.executable, "-c", "raise SystemExit(1)"]
    browser.install(QApplication.instance(), launcher)  # type: ignore[arg-type]
    try:
        _assert_link_offered(qtbot, _waiting_dialog(qtbot, open_in_browser))
    finally:
        browser.uninstall()


def test_browser_that_starts_is_not_reported_as_failed(qtbot: Any, tmp_path: Path) -> None:
    """A launcher that keeps running (a browser window open) leaves the usual words."""
    import sys

    from PySide6.QtWidgets import QApplication

    from desktop.connect import browser
    from desktop.views.connect_dialog import open_in_browser

    started = tmp_path / "started"
    launcher = [sys.executable, "-c", f"open({str(started)!r}, 'w'); import time; time.sleep(8)"]
    opener = browser.install(QApplication.instance(), launcher)  # type: ignore[arg-type]
    assert opener is not None
    opener.grace_s = 0.5  # still running after half a second: it opened
    failures: list[str] = []
    opener.failed.connect(failures.append)
    try:
        dialog = _waiting_dialog(qtbot, open_in_browser)
        qtbot.waitUntil(started.exists, timeout=10_000)
        assert failures == []
        assert not dialog.link_text.isVisibleTo(dialog)
        assert dialog.wait_text.text().startswith("Sign in to Demo Ads and allow access")
        dialog.reject()
    finally:
        browser.uninstall()


def test_browser_that_opens_keeps_the_usual_words(qtbot: Any) -> None:
    dialog = _waiting_dialog(qtbot, lambda _url: True)
    assert dialog.wait_text.text().startswith("Sign in to Demo Ads and allow access")
    assert not dialog.link_text.isVisibleTo(dialog)
    dialog.reject()


def test_empty_reports_page_offers_a_connect_and_draws_no_fake_axes(
    qtbot: Any, tmp_path: Path
) -> None:
    model = ConnectionsModel()
    window = MainWindow(model)
    qtbot.addWidget(window)
    window.show()
    window.reports_action.trigger()
    reports = window.reports
    assert reports.empty.isVisibleTo(window)
    assert not reports.content.isVisibleTo(window)
    assert not reports.chart.x_axis.isVisible()
    assert not reports.chart.y_axis.isVisible()
    with qtbot.waitSignal(window.connect_requested, timeout=5000):
        reports.empty.button.click()
    # A connection, but no report loaded yet: pickers and Load, still no made-up axes.
    model.set_connections([data.parsed("a")])
    assert not reports.empty.isVisibleTo(window)
    assert reports.content.isVisibleTo(window)
    assert not reports.chart.x_axis.isVisible()
    assert reports.chart.chart.title() == "Load a report to see it here."
    reports.chart.set_report(columnar.from_report(data.report(4, level="account")))
    qtbot.waitUntil(lambda: not reports.chart.busy)
    assert reports.chart.x_axis.isVisible()
    assert reports.chart.y_axis.isVisible()


def test_the_vault_banner_is_said_on_the_accounts_page_not_over_the_report(
    qtbot: Any, tmp_path: Path
) -> None:
    from desktop.views.main_window import ACCOUNTS, REPORTS

    parts = Parts(qtbot, tmp_path)
    window = parts.window
    window.set_vault_key_place("keyring", None)
    assert window.vault_banner.isVisibleTo(window)
    window.show_view(REPORTS)
    assert not window.vault_banner.isVisibleTo(window)
    assert window.stack.currentWidget() is window.reports
    window.show_view(ACCOUNTS)
    assert window.vault_banner.isVisibleTo(window)
    window.set_remote(True, signed_in=True)  # a remote service keeps no vault here
    assert not window.vault_banner.isVisibleTo(window)


def test_the_first_window_size_follows_the_screen_within_bounds() -> None:
    from PySide6.QtCore import QRect

    from desktop.views.main_window import FIRST_SIZE, first_size

    class Screen:
        def __init__(self, w: int, h: int) -> None:
            self.free = QRect(0, 0, w, h)

        def availableGeometry(self) -> QRect:
            return self.free

    class Window:
        def __init__(self, screen: Screen | None) -> None:
            self._screen = screen

        def screen(self) -> Screen | None:
            return self._screen

    (low_w, low_h), (high_w, high_h) = FIRST_SIZE
    assert first_size(Window(Screen(1366, 728))) == (1161, low_h)  # a small laptop
    assert first_size(Window(Screen(1920, 1040))) == (high_w, 884)  # full HD with a panel
    assert first_size(Window(Screen(3840, 2100))) == (high_w, high_h)
    assert first_size(Window(Screen(800, 600))) == (low_w, low_h)  # never under the layout's
    assert first_size(Window(None)) == (low_w, low_h)
