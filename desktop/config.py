"""Desktop settings (no secrets) and the folders the desktop writes to."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

log = logging.getLogger(__name__)

APP_NAME = "connected-accounts"
BACKEND_ENV = "CONNECTED_ACCOUNTS_BACKEND"
SETTINGS_FILE = "settings.json"


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
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


def resolve_backend_url(
    cli_value: str | None = None, settings: Settings | None = None
) -> str | None:
    """`--backend`, then CONNECTED_ACCOUNTS_BACKEND, then the saved setting (None: embedded)."""
    for candidate in (cli_value, os.environ.get(BACKEND_ENV)):
        if candidate:
            return candidate.rstrip("/")
    if settings is None:
        settings = load_settings()
    return settings.backend_url.rstrip("/") if settings.backend_url else None
