"""The controller follows the event stream: each kind of change reaches the list with no user
action, an older snapshot never overwrites a newer one, and the list is re-read on (re)open.

The stream here is the fake API's; tests/desktop/app/test_live_service.py runs a real backend.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon

from desktop.app.controller import Controller
from desktop.app.notify import Notifier
from desktop.models.cache import Cache
from desktop.models.connections import ConnectionsModel
from desktop.views.main_window import MainWindow
from tests.desktop.support import data
from tests.desktop.support.fakes import FakeApi


class Live:
    def __init__(self, qtbot: Any, cache: Cache, api: FakeApi) -> None:
        self.qtbot = qtbot
        self.api = api
        self.model = ConnectionsModel()
        self.window = MainWindow(self.model)
        qtbot.addWidget(self.window)
        self.notifier = Notifier(QIcon(), self.window)
        self.controller = Controller(self.window, self.model, cache, self.notifier)
        self.next_id = 1

    def attach(self) -> None:
        """Attach, then wait until what attaching starts has settled: the first list read, the
        stream's own re-read, and the check of each connection. The fake stream's events may
        disagree with the fake API's list (a real backend's never do), so an answer from either
        landing after an event would overwrite it: a race of the test's making, not the app's."""
        with self.qtbot.waitSignals(
            [self.controller.connections_loaded, self.controller.list_reloaded], timeout=10_000
        ):
            self.controller.attach(self.api)  # type: ignore[arg-type]
        self.qtbot.waitUntil(
            lambda: not any(c.checking for c in self.model.items()), timeout=10_000
        )

    def announce(self, kind: str, connection: dict[str, Any]) -> None:
        event = {
            "id": self.next_id,
            "kind": kind,
            "connection_id": connection["id"],
            "status": connection["status"],
            "reason": connection.get("status_reason"),
            "connection": connection,
        }
        self.next_id += 1
        self.send(event)

    def progress(self, connection_id: str, percent: int, status: str) -> None:
        """A `report_progress` event, as the backend sends while Meta prepares a report."""
        event = {
            "id": self.next_id,
            "kind": "report_progress",
            "connection_id": connection_id,
            "percent": percent,
            "status": status,
            "at": "2026-12-07T03:00:00Z",
        }
        self.next_id += 1
        self.send(event)

    def send(self, event: dict[str, Any]) -> None:
        self.api.push(f"id: {event['id']}")
        self.api.push(f"data: {json.dumps(event)}")
        self.api.push("")


@pytest.fixture
def live(qtbot: Any, tmp_cache_path: Any) -> Live:
    return Live(qtbot, Cache(tmp_cache_path, "embedded"), FakeApi([data.connection("a")]))


def test_the_list_is_read_again_each_time_the_stream_opens(live: Live) -> None:
    live.attach()
    assert [c.id for c in live.model.items()] == ["a"]
    live.api.items["b"] = data.connection("b", name="Made elsewhere")
    with live.qtbot.waitSignal(live.controller.list_reloaded, timeout=10_000):
        live.api.streams[-1].close()  # the stream drops; it reopens and re-reads the list
    assert [c.id for c in live.model.items()] == ["a", "b"]


def test_each_kind_of_change_reaches_the_list_without_user_action(live: Live) -> None:
    live.attach()
    added = data.connection("b", name="From the command line")
    with live.qtbot.waitSignal(live.controller.live_change_applied, timeout=10_000) as got:
        live.announce("connected", added)
    assert got.args == ["connected", "b"]
    assert live.window.accounts.row_for("b") is not None

    revoked = {**added, "status": "needs_reconnect", "status_reason": "Demo Ads says no."}
    revoked["updated_at"] = "2099-01-01T00:00:00Z"
    with live.qtbot.waitSignal(live.notifier.shown, timeout=10_000) as shown:
        live.announce("needs_reconnect", revoked)
    assert shown.args[0] == "Demo Ads needs reconnecting"
    row = live.window.accounts.row_for("b")
    assert row is not None
    assert row.badge.text() == "Needs reconnect"
    assert "Demo Ads says no." in row.detail.text()

    older = {**added, "status": "connected", "updated_at": "2098-01-01T00:00:00Z"}
    live.announce("connected", older)  # a snapshot older than what the list holds
    gone = {**revoked, "status": "disconnected", "updated_at": "2099-01-02T00:00:00Z"}
    with live.qtbot.waitSignal(live.controller.live_change_applied, timeout=10_000) as last:
        live.announce("revocation_settled", gone)
    assert last.args == ["revocation_settled", "b"]  # the older one changed nothing
    assert live.window.accounts.row_for("b") is None
    assert [c.id for c in live.model.items()] == ["a"]


def test_a_revocation_still_pending_stays_listed_as_pending(live: Live) -> None:
    live.attach()
    # Newer than the list's copy, as a real change is: the re-read on the stream's opening may
    # land after the event, and the list keeps whichever copy is newer.
    pending = {
        **data.connection("a"),
        "status": "disconnected",
        "revocation_pending": True,
        "updated_at": "2099-01-01T00:00:00Z",
    }
    with live.qtbot.waitSignal(live.controller.live_change_applied, timeout=10_000):
        live.announce("disconnected", pending)
    row = live.window.accounts.row_for("a")
    assert row is not None
    assert row.badge.text() == "Revocation pending"


def test_detaching_stops_the_stream(live: Live) -> None:
    live.attach()
    live.controller.attach(None)
    assert not live.controller.live.running
    with live.qtbot.assertNotEmitted(live.controller.live_change_applied, wait=300):
        live.announce("connected", data.connection("z"))


def test_report_progress_fills_the_reports_progress_bar_and_cancel_stops_the_fetch(
    live: Live,
) -> None:
    live.attach()
    live.api.report_gate = threading.Event()  # the report takes as long as the test wants
    live.window.show()
    view = live.window.reports
    bar = view.status_row.progress
    live.qtbot.waitUntil(view.load_button.isEnabled, timeout=10_000)
    chosen = view.selected_connection()
    assert chosen is not None
    assert chosen.id == "a"
    view.load_button.click()
    assert view.loading
    assert (bar.minimum(), bar.maximum()) == (0, 0)  # busy until the provider says how far
    live.progress("a", 40, "running")
    live.qtbot.waitUntil(lambda: (bar.maximum(), bar.value()) == (100, 40), timeout=10_000)
    assert "40 % prepared" in view.status_label.text()
    # Another connection's report is not this one's: the bar stays (events arrive in order).
    live.progress("b", 90, "running")
    with live.qtbot.waitSignal(live.controller.live_change_applied, timeout=10_000):
        live.announce("updated", data.connection("a"))
    assert view.loading
    assert bar.value() == 40
    assert [c.id for c in live.model.items()] == ["a"]  # a progress event changes no row
    live.qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    live.qtbot.waitUntil(lambda: live.api.reports_cancelled == 1, timeout=10_000)
    assert not view.loading
    assert not bar.isVisible()
    assert view.load_button.isEnabled()
