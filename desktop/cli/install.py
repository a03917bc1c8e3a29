"""`install-desktop-entry`: the .desktop file and the icon into the user's XDG data folder."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

APP_ID = "connected-accounts"


def xdg_data_home() -> Path:
    """XDG Base Directory: $XDG_DATA_HOME, else ~/.local/share."""
    value = os.environ.get("XDG_DATA_HOME")
    return Path(value) if value and os.path.isabs(value) else Path.home() / ".local" / "share"


def launch_command() -> str:
    """The installed script when it is on PATH, else this interpreter running the package."""
    script = shutil.which(APP_ID)
    if script:
        return shlex.quote(script)
    return f"{shlex.quote(sys.executable)} -m desktop"


def install_desktop_entry(resources: Path, data_home: Path | None = None) -> list[Path]:
    """Copy the entry (with an Exec line that works here) and the SVG icon; returns the paths."""
    data_home = data_home or xdg_data_home()
    entry_src = resources / f"{APP_ID}.desktop"
    icon_src = resources / "icons" / f"{APP_ID}.svg"
    apps = data_home / "applications"
    icons = data_home / "icons" / "hicolor" / "scalable" / "apps"
    apps.mkdir(parents=True, exist_ok=True)
    icons.mkdir(parents=True, exist_ok=True)
    lines = []
    for line in entry_src.read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            line = f"Exec={launch_command()}"
        lines.append(line)
    entry = apps / f"{APP_ID}.desktop"
    _write_atomically(entry, "\n".join(lines) + "\n")
    icon = icons / f"{APP_ID}.svg"
    _write_atomically(icon, icon_src.read_text(encoding="utf-8"))
    return [entry, icon]


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
