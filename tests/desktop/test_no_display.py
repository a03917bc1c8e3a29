"""Without a display the window says so in plain words and exits 2 (issue 18), instead of Qt
aborting with exit 134 and advice about xcb libraries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.__main__ import NO_DISPLAY, display_missing

ROOT = Path(__file__).resolve().parents[3]


def test_no_display_is_a_plain_message_and_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    env["HOME"] = str(tmp_path)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    done = subprocess.run(
        [sys.executable, "-m", "desktop"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stderr.strip() == NO_DISPLAY
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, True),
        ({"QT_QPA_PLATFORM": "xcb"}, True),
        ({"DISPLAY": ":0"}, False),
        ({"WAYLAND_DISPLAY": "wayland-0"}, False),
        ({"QT_QPA_PLATFORM": "offscreen"}, False),
        ({"QT_QPA_PLATFORM": "wayland;offscreen"}, False),
        ({"QT_QPA_PLATFORM": "vnc:size=800x600"}, False),
        ({"DISPLAY": ""}, True),
    ],
)
def test_display_check_on_linux(env: dict[str, str], missing: bool) -> None:
    assert display_missing(env, "linux") is missing


def test_display_check_leaves_macos_and_windows_alone() -> None:
    assert display_missing({}, "darwin") is False
    assert display_missing({}, "win32") is False
