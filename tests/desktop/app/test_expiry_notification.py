"""The 14-day expiry notice over a REAL session bus: a stub server owns
org.freedesktop.Notifications (tests/support/notify_stub.py) and records each Notify call;
without it the notice falls back to the in-window banner. Once per connection and lapse
date, remembered in the desktop cache across windows."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QIcon

from desktop.app.expiry_watch import ExpiryWatcher
from desktop.app.notify import Notifier
from desktop.models.cache import Cache
from desktop.models.connections import Connection, ConnectionsModel
from desktop.views.main_window import MainWindow
from tests.desktop.support import data

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
REASON = "Demo Ads grants last 60 days."


class Stub:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.notify_stub"],
            stdout=subprocess.PIPE, text=True, cwd=ROOT, env=os.environ.copy(),
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.next_line() == "READY"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def next_line(self) -> str:
        try:
            return self.lines.get(timeout=30)
        except queue.Empty:
            raise AssertionError("the notification stub got no call in time") from None

    def next_call(self) -> dict[str, Any]:
        call: dict[str, Any] = json.loads(self.next_line())
        return call

    def close(self) -> None:
        self.process.kill()
        self.process.wait(30)


@pytest.fixture
def stub() -> Iterator[Stub]:
    assert os.environ.get("DBUS_SESSION_BUS_ADDRESS"), "run the tests inside dbus-run-session"
    s = Stub()
    yield s
    s.close()


def expiring(id: str, days: float, name: str = "Dana Demo") -> Connection:
    body = data.connection(id, name=name) | {
        "expires_at": data.iso(NOW + timedelta(days=days)),
        "expiry_reason": REASON,
    }
    return Connection.from_api(body)


def watcher(qtbot: Any, cache: Cache | None) -> tuple[ExpiryWatcher, Notifier, list[tuple]]:
    notifier = Notifier(QIcon())
    w = ExpiryWatcher(notifier, lambda: cache, now=lambda: NOW)
    sent: list[tuple] = []
    w.sent.connect(lambda *args: sent.append(args))
    return w, notifier, sent


def test_notify_over_dbus_once_per_connection_and_lapse(qtbot, stub: Stub, tmp_cache_path) -> None:
    cache = Cache(tmp_cache_path, "embedded")
    w, _, sent = watcher(qtbot, cache)
    w.check([expiring("soon", 10), expiring("later", 20, name="Later")])
    call = stub.next_call()
    assert call == {
        "app_name": "Connected Accounts", "replaces_id": 0, "app_icon": "connected-accounts",
        "summary": "Demo Ads: Dana Demo",
        "body": f"Expires in 10 days: reconnect to keep reports flowing. {REASON}",
        "actions": [], "hints": [], "expire_timeout": -1, "signature": "susssasa{sv}i",
    }  # fmt: skip
    qtbot.waitUntil(lambda: len(sent) == 1, timeout=30_000)
    assert sent[0][2] == "dbus"

    w.check([expiring("soon", 10)])  # the same lapse again: nothing new
    again, _, sent_again = watcher(qtbot, cache)  # a later window, same cache
    again.check([expiring("soon", 10)])
    # A marker the stub must see next: had either repeat gone out, it would come first.
    again.check([expiring("marker", 5, name="Marker")])
    assert stub.next_call()["summary"] == "Demo Ads: Marker"
    qtbot.waitUntil(lambda: len(sent_again) == 1, timeout=30_000)

    # Reconnected, with a new lapse date that is again within 14 days: a new notice.
    again.check([expiring("soon", 12)])
    assert stub.next_call()["body"].startswith("Expires in 12 days")
    assert len(sent) == 1
    cache.close()


def test_body_is_escaped_for_servers_that_read_markup(qtbot, stub: Stub) -> None:
    w, _, _ = watcher(qtbot, None)
    body = data.connection("x") | {
        "expires_at": data.iso(NOW + timedelta(days=2)),
        "expiry_reason": "<b>Bold</b> & more",
    }
    w.check([Connection.from_api(body)])
    assert stub.next_call()["body"].endswith("&lt;b&gt;Bold&lt;/b&gt; &amp; more")


def test_without_a_notification_service_the_window_shows_a_banner(qtbot, tmp_cache_path) -> None:
    cache = Cache(tmp_cache_path, "embedded")
    w, notifier, sent = watcher(qtbot, cache)
    window = MainWindow(ConnectionsModel())
    qtbot.addWidget(window)
    notifier.fallback_requested.connect(window.show_notice)
    assert not notifier.uses_tray  # no tray under the offscreen platform either
    w.check([expiring("soon", 10)])
    qtbot.waitUntil(lambda: len(sent) == 1, timeout=30_000)
    assert sent[0][2] == "window"
    assert not window.notice_banner.isHidden()
    assert "Expires in 10 days: reconnect to keep reports flowing" in (window.notice_banner.text())
    cache.close()


def test_the_window_checks_whenever_its_list_changes(qtbot, stub: Stub, tmp_cache_path) -> None:
    from desktop.app.bootstrap import watch_expiry

    model = ConnectionsModel()
    window = MainWindow(model)
    qtbot.addWidget(window)
    cache = Cache(tmp_cache_path, "embedded")
    watch = watch_expiry(model, Notifier(QIcon()), lambda: cache, window)
    watch.now = lambda: NOW
    model.set_connections([expiring("a", 30)])
    model.upsert(expiring("b", 3, name="Acme"))
    assert stub.next_call()["summary"] == "Demo Ads: Acme"
    cache.close()
