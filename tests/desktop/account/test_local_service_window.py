"""The window (a real `connected-accounts` process, offscreen) and commands share one local
service; a SIGKILLed window leaves nothing running once the idle time has passed."""

from __future__ import annotations

import json
import platform
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.localsvc import ROOT, LocalHome, pid_gone, wait_until


def _open_window(home: LocalHome) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "desktop"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=home.env, cwd=ROOT,
    )  # fmt: skip


def _devices(home: LocalHome) -> int:
    try:
        with sqlite3.connect(home.data / "backend.sqlite3") as db:
            return int(db.execute("SELECT count(*) FROM devices").fetchone()[0])
    except sqlite3.Error:
        return 0


def _window_signed_in(home: LocalHome, window: subprocess.Popen[bytes]) -> dict[str, Any] | None:
    """The runtime file of the service the window signed in to, once it has."""
    assert window.poll() is None, "the window quit"
    info = home.runtime_file()
    return info if info is not None and _devices(home) == 1 else None


def _device_names(home: LocalHome) -> list[str]:
    with sqlite3.connect(home.data / "backend.sqlite3") as db:
        return sorted(str(row[0]) for row in db.execute("SELECT name FROM devices"))


@pytest.fixture
def home(tmp_path: Path) -> Iterator[LocalHome]:
    h = LocalHome(tmp_path)
    yield h
    h.close()


def test_window_and_commands_use_one_service(home: LocalHome) -> None:
    window = _open_window(home)
    try:
        wait_until(lambda: _window_signed_in(home, window), 60, "the window signed in")
        pid = home.status()["pid"]
        listed = home.cli("list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout) == []
        assert home.cli("providers").returncode == 0
        assert home.service_pids() == [pid]
        # The window and the commands are two devices, named so a person tells them apart;
        # the commands share one device between them.
        assert home.cli("list").returncode == 0
        host = platform.node()
        assert _device_names(home) == [f"{host} command line", f"{host} desktop app"]
    finally:
        window.kill()
        window.wait(30)


def test_after_the_window_is_sigkilled_the_service_stops_when_idle(tmp_path: Path) -> None:
    home = LocalHome(tmp_path, idle_timeout=3)
    try:
        window = _open_window(home)
        try:
            info = wait_until(lambda: _window_signed_in(home, window), 60, "the window signed in")
        finally:
            window.send_signal(signal.SIGKILL)
            window.wait(30)
        wait_until(lambda: pid_gone(info["pid"]), 60, "the service stopped by itself")
        wait_until(lambda: home.runtime_file() is None, 10, "its runtime file is gone")
        assert home.service_pids() == []
        assert (
            "no client for 3 s: the local service stops" in (home.data / "service.log").read_text()
        )
    finally:
        home.close()
