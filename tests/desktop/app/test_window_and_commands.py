"""Issue 13's must-show, with real processes: the window open on the local companion service,
a command-line `connect demo --no-browser` through Demo Ads, a `report`, another `report` 5 s
later — all succeed; the window's list shows the new connection with no user action, brought
by the event stream; exactly one service process runs for the user.

The window is the real one (`desktop.app.bootstrap.build_main`: window, controller, backend link) in
this process, offscreen; the service and every command are real processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from PySide6.QtWidgets import QApplication

from desktop.app.bootstrap import MainParts, build_main
from tests.support.browser import play_consent
from tests.support.localsvc import ROOT, LocalHome, read_line

DEADLINE_MS = 60_000
ENV_KEYS = (
    "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME",
    "HOME", "CONNECTED_ACCOUNTS_DATA_DIR", "CONNECTED_ACCOUNTS_IDLE_TIMEOUT",
    "DBUS_SESSION_BUS_ADDRESS",
)  # fmt: skip


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalHome]:
    """A private local-service home; this process (the window) uses it too."""
    h = LocalHome(tmp_path)
    for key in ENV_KEYS:
        monkeypatch.setenv(key, h.env[key])
    yield h
    h.close()


class Watched:
    """The window's parts, and what reached its list and how."""

    def __init__(self, parts: MainParts) -> None:
        self.parts = parts
        self.applied: list[tuple[str, str]] = []
        self.reloads = 0
        self.refreshes = 0
        parts.controller.live_change_applied.connect(lambda k, c: self.applied.append((k, c)))
        parts.controller.list_reloaded.connect(self._reloaded)
        parts.window.refresh_requested.connect(self._refreshed)

    def _reloaded(self) -> None:
        self.reloads += 1

    def _refreshed(self) -> None:
        self.refreshes += 1


@pytest.fixture
def window(qtbot: Any, qapp: QApplication, home: LocalHome) -> Iterator[Watched]:
    parts = build_main(qapp, None)
    qtbot.addWidget(parts.window)
    watched = Watched(parts)
    parts.start()
    yield watched
    parts.stop()


def connect_on_the_command_line(home: LocalHome) -> dict[str, Any]:
    """`connected-accounts connect demo --no-browser --json`, playing the person's browser."""
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop", "connect", "demo", "--no-browser", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=home.env, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    first = json.loads(read_line(process.stdout, 120))
    location = play_consent(first["authorization_url"], timeout=60)
    assert urlsplit(location).hostname == "127.0.0.1"
    assert httpx.get(location, timeout=30).status_code == 200  # the command's receiver
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    connection: dict[str, Any] = json.loads(out)
    return connection


def report(home: LocalHome, connection: dict[str, Any]) -> dict[str, Any]:
    done = home.cli(
        "report", str(connection["id"]), "--account", connection["accounts"][0]["id"],
        "--since", "2026-11-01", "--until", "2026-11-07", "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    body: dict[str, Any] = json.loads(done.stdout)
    return body


def test_window_and_command_line_together_on_one_local_service(
    qtbot: Any, home: LocalHome, window: Watched
) -> None:
    controller = window.parts.controller
    # The window is on the local service, its list read after its event stream opened.
    qtbot.waitUntil(lambda: window.reloads >= 1, timeout=DEADLINE_MS)
    assert controller.client is not None
    reloads = window.reloads

    connection = connect_on_the_command_line(home)
    assert connection["status"] == "connected"
    first = report(home, connection)
    qtbot.wait(5000)  # the scenario: a second report 5 s later, on the same service
    second = report(home, connection)
    assert first["connection_id"] == second["connection_id"] == connection["id"]
    assert first["rows"]
    assert second["rows"]

    model = window.parts.model
    qtbot.waitUntil(lambda: model.get(connection["id"]) is not None, timeout=DEADLINE_MS)
    item = model.get(connection["id"])
    assert item is not None
    assert item.status == "connected"  # the service's one Demo Ads: no "needs reconnect"
    assert ("connected", connection["id"]) in window.applied  # brought by the event stream
    assert window.reloads == reloads  # not by a re-read of the list ...
    assert window.refreshes == 0  # ... nor by anyone pressing Refresh

    status = home.status()
    assert status["running"] is True
    assert home.service_pids() == [status["pid"]]  # exactly one service for the user
