"""A private home for the local companion service in tests: its own runtime folder, data
folder, XDG folders and (optionally) its own D-Bus session with an unlocked gnome-keyring.

Every service a test starts is stopped at the end (`close()`), and any process still running
`backend.localsvc.serve` for this home is killed, so no test leaves one behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
SERVE_MODULE = "backend.localsvc.serve"


def read_line(stream: IO[str], timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"no line within {timeout:g} s") from None


def wait_until(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll `check` until it returns something truthy (an "eventually", never a timing)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what or check}")
        time.sleep(0.05)


class LocalHome:
    """Folders and environment for one test's local service."""

    def __init__(self, tmp: Path, *, keyring: bool = True, idle_timeout: float = 600) -> None:
        self.tmp = tmp
        self.runtime_base = tmp / "run"
        self.runtime_base.mkdir(mode=0o700)
        self.runtime = self.runtime_base / "connected-accounts"
        self.data = tmp / "backend-data"
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DBUS_", "XDG_", "CONNECTED_ACCOUNTS_", "PYTHON_KEYRING"))
        }
        for name in ("DATA", "CONFIG", "CACHE", "STATE"):
            base[f"XDG_{name}_HOME"] = str(tmp / name.lower())
        base["XDG_RUNTIME_DIR"] = str(self.runtime_base)
        base["HOME"] = str(tmp / "home")
        (tmp / "home").mkdir()
        base["CONNECTED_ACCOUNTS_DATA_DIR"] = str(self.data)
        base["CONNECTED_ACCOUNTS_IDLE_TIMEOUT"] = f"{idle_timeout:g}"
        base["PYTHONPATH"] = str(ROOT)
        base["QT_QPA_PLATFORM"] = "offscreen"
        self._bus: subprocess.Popen[str] | None = None
        if keyring:
            assert shutil.which("dbus-run-session"), "dbus-user-session must be installed"
            # A private session bus with an unlocked Secret Service; it lives while `cat` reads.
            self._bus = subprocess.Popen(
                ["dbus-run-session", "--", "sh", "-c",
                 "echo -n kr-pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null;"
                 ' echo "$DBUS_SESSION_BUS_ADDRESS"; exec cat'],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, env=base,
            )  # fmt: skip
            assert self._bus.stdout is not None
            base["DBUS_SESSION_BUS_ADDRESS"] = read_line(self._bus.stdout, 30).strip()
        self.env = base

    # -- running commands ---------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "desktop", *args],
            capture_output=True, text=True, env=self.env, cwd=ROOT, timeout=timeout, check=False,
        )  # fmt: skip

    def python(self, code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True, text=True, env=self.env, cwd=ROOT, timeout=timeout, check=False,
        )  # fmt: skip

    def status(self) -> dict[str, Any]:
        done = self.cli("service", "status", "--json")
        assert done.returncode in (0, 1), done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def runtime_file(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads((self.runtime / "service.json").read_text())
        except FileNotFoundError:
            return None
        return data

    def service_pids(self) -> list[int]:
        """Every live `backend.localsvc.serve` process whose runtime folder is this home's."""
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
                if SERVE_MODULE.encode() not in cmdline:
                    continue
                state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
                environ = (proc / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if state != "Z" and f"XDG_RUNTIME_DIR={self.runtime_base}".encode() in environ:
                found.append(int(proc.name))
        return found

    def close(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.cli("service", "stop", timeout=60)
        for pid in self.service_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self._bus is not None:
            assert self._bus.stdin is not None
            self._bus.stdin.close()
            try:
                self._bus.wait(10)
            except subprocess.TimeoutExpired:
                self._bus.kill()
                self._bus.wait(10)


def pid_gone(pid: int) -> bool:
    """Not running (a zombie nobody reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state == "Z"
