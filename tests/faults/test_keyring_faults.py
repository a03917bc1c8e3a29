"""The desktop's secure store with no D-Bus and with a locked Secret Service, in real processes.

Rule: design rule "Keyring: allow only real OS backends; refuse keyrings.alt plaintext and fail;
keyring calls run off the UI thread with a timeout (a locked collection can prompt forever)" —
the sign-in is then kept in memory for the session, the user is told why, nothing is written
in plaintext, and nothing hangs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, sys, time
from desktop.api.secret import Secret
from desktop.account.secure_store import DeviceRecord, open_store
started = time.monotonic()
store = open_store(timeout=3)
record = DeviceRecord("dev-9", Secret("PEM-KEY-SECRET"), Secret("jwt-SECRET"), "d@example.com")
store.save("http://127.0.0.1:1", record)
print(json.dumps({"persistent": store.persistent, "description": store.description,
                  "reason": store.reason, "roundtrip": store.load("http://127.0.0.1:1") == record,
                  "seconds": time.monotonic() - started}))
"""


def run(tmp_path: Path, *prefix: str, bus: bool) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS_")}
    env.pop("PYTHON_KEYRING_BACKEND", None)  # keyring picks what this machine offers
    home = tmp_path / "home"
    home.mkdir()
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"),
               XDG_CONFIG_HOME=str(home / "config"), PYTHONPATH=str(ROOT))  # fmt: skip
    if not bus:
        env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={tmp_path / 'no-bus'}"
    started = time.monotonic()
    done = subprocess.run(
        [*prefix, sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
        timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30
    out: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    for path in home.rglob("*"):
        if path.is_file():
            assert b"PEM-KEY-SECRET" not in path.read_bytes(), path  # no plaintext file anywhere
    assert "Keeping the sign-in in memory only" in done.stderr  # the log tells why
    return out


def assert_memory_session(out: dict[str, object]) -> None:
    assert out["persistent"] is False
    assert out["description"] == "memory only"
    assert isinstance(out["reason"], str)
    assert "keyring" in out["reason"]
    assert out["roundtrip"] is True  # the session still works, in memory
    assert isinstance(out["seconds"], float)
    assert out["seconds"] < 10


def test_no_dbus_refuses_keyrings_alt_plaintext_and_keeps_a_memory_session(
    tmp_path: Path,
) -> None:
    """No session bus: keyring falls back to keyrings.alt's plaintext file, which is refused."""
    out = run(tmp_path, bus=False)
    assert_memory_session(out)
    assert "PlaintextKeyring" in str(out["reason"])


def test_locked_secret_service_without_a_prompter_keeps_a_memory_session(
    tmp_path: Path,
) -> None:
    """A real gnome-keyring-daemon, never unlocked, with no display for its prompter."""
    assert shutil.which("dbus-run-session")
    assert shutil.which("gnome-keyring-daemon")
    shell = 'gnome-keyring-daemon --start --components=secrets >/dev/null; exec "$@"'
    out = run(tmp_path, "dbus-run-session", "--", "sh", "-c", shell, "sh", bus=True)
    assert_memory_session(out)
