"""Desktop settings (no secrets) and the folders the desktop writes to."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import posixpath
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

APP_NAME = "connected-accounts"
BACKEND_ENV = "CONNECTED_ACCOUNTS_BACKEND"
SETTINGS_FILE = "settings.json"


DESKTOP_APP = "desktop app"
COMMAND_LINE = "command line"


def device_name(client: str) -> str:
    """How this device appears in Signed-in devices: the host, then which client signed in
    (`DESKTOP_APP` or `COMMAND_LINE`), so a person can tell the window from the commands."""
    import platform

    return f"{platform.node() or 'This computer'} {client}"[:200]


def _xdg_dir(variable: str, default: str) -> Path | None:
    """platformdirs' Linux answer for a user folder in the plain cases, without importing it
    (~21M instructions, ~4 ms, before the window's first paint: bench/cold_start.py): an
    absolute `$XDG_…_HOME`, else `~/<default>` with an absolute HOME, then our APP_NAME.
    None (ask platformdirs) anywhere else: other systems, Android, no usable HOME.
    tests/desktop/test_config_dirs.py checks the answers against platformdirs."""
    if not sys.platform.startswith("linux"):
        return None
    if os.environ.get("ANDROID_DATA") == "/data" and os.environ.get("ANDROID_ROOT") == "/system":
        return None
    base = os.environ.get(variable, "")
    if not posixpath.isabs(base):
        home = os.environ.get("HOME", "")
        if not posixpath.isabs(home):
            return None
        base = posixpath.join(home.rstrip("/") or "/", default)
    return Path(posixpath.join(base, APP_NAME))


def config_dir() -> Path:
    if (found := _xdg_dir("XDG_CONFIG_HOME", ".config")) is not None:
        return found
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    if (found := _xdg_dir("XDG_DATA_HOME", ".local/share")) is not None:
        return found
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    if (found := _xdg_dir("XDG_CACHE_HOME", ".cache")) is not None:
        return found
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    if (found := _xdg_dir("XDG_STATE_HOME", ".local/state")) is not None:
        return found / "log"  # platformdirs' user_log_dir: the state folder's "log"
    import platformdirs

    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


@dataclass
class Settings:
    """`backend_url` None means the embedded local backend; `ui` holds the window's preferences."""

    backend_url: str | None = None
    ui: dict[str, Any] = field(default_factory=dict)


def load_settings() -> Settings:
    """The saved settings, or defaults when the file is missing or unreadable."""
    path = config_dir() / SETTINGS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError):
        log.warning("Settings file %s is unreadable; using defaults", path)
        return Settings()
    if not isinstance(data, dict):
        return Settings()
    backend = data.get("backend_url")
    ui = data.get("ui")
    return Settings(
        backend_url=backend if isinstance(backend, str) and backend else None,
        ui=ui if isinstance(ui, dict) else {},
    )


def save_settings(settings: Settings) -> None:
    """Write atomically: a temp file in the same folder, then rename over the old one."""
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(asdict(settings), f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / SETTINGS_FILE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class BackendUrlRefused(ValueError):
    """A backend address this app will not use; the message says why and what to do."""


def is_loopback_host(host: str) -> bool:
    """`localhost`, 127.0.0.0/8 and ::1 (also IPv4-mapped): traffic that never leaves this
    computer, so plain HTTP to it crosses no network."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def check_backend_url(url: str) -> str:
    """`url` when it is https://, or http:// to this computer; else BackendUrlRefused."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not host:
        raise BackendUrlRefused(
            f"{url!r} is not a service address. Enter it starting with https://, "
            "for example https://accounts.example.com"
        )
    if parts.scheme == "http" and not is_loopback_host(host):
        raise BackendUrlRefused(
            f"{url} uses plain http:// to another computer: your password and sign-in "
            "would cross the network unencrypted. Use the service's https:// address "
            "(plain http:// is accepted only for this computer: localhost, 127.0.0.1, ::1)."
        )
    return url


def resolve_backend_url(
    cli_value: str | None = None, settings: Settings | None = None
) -> str | None:
    """`--backend`, then CONNECTED_ACCOUNTS_BACKEND, then the saved setting (None: embedded).

    Raises BackendUrlRefused for a plain-HTTP address of another computer.
    """
    for candidate in (cli_value, os.environ.get(BACKEND_ENV)):
        if candidate:
            return check_backend_url(candidate.rstrip("/"))
    if settings is None:
        settings = load_settings()
    if not settings.backend_url:
        return None
    return check_backend_url(settings.backend_url.rstrip("/"))
