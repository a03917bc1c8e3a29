"""Where the local service keeps its files. Stdlib and platformdirs only: the command line's
fast path imports this before anything heavy.

Runtime folder: `$XDG_RUNTIME_DIR/connected-accounts/` (a per-user tmpfs, emptied at logout,
XDG Base Directory spec "XDG_RUNTIME_DIR"), or the service's data folder where there is none.
It holds the runtime file, the local secret and the locks; it is always mode 0700.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

APP_DIR = "connected-accounts"
BACKEND_APP = "connected-accounts-backend"
DATA_DIR_ENV = "CONNECTED_ACCOUNTS_DATA_DIR"
IDLE_TIMEOUT_ENV = "CONNECTED_ACCOUNTS_IDLE_TIMEOUT"
DEFAULT_IDLE_TIMEOUT_S = 600.0

RUNTIME_FILE = "service.json"
SECRET_FILE = "local-secret"  # noqa: S105 - a file name
START_LOCK = "start.lock"
INSTANCE_LOCK = "service.lock"
LOG_FILE = "service.log"


class UnsafeFolder(Exception):
    """A folder the service would keep secrets in is not private to this user."""


def data_dir() -> Path:
    """The service's data folder (the backend's default: SQLite, its log, key file fallback)."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_data_dir(BACKEND_APP, appauthor=False))


def runtime_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isabs(base) and os.path.isdir(base):
        return Path(base) / APP_DIR
    return data_dir()


def idle_timeout() -> float:
    """The idle time after which the service stops (CONNECTED_ACCOUNTS_IDLE_TIMEOUT, seconds)."""
    raw = os.environ.get(IDLE_TIMEOUT_ENV, "")
    try:
        value = float(raw) if raw else DEFAULT_IDLE_TIMEOUT_S
    except ValueError:
        return DEFAULT_IDLE_TIMEOUT_S
    return value if value > 0 else DEFAULT_IDLE_TIMEOUT_S


def private_dir(path: Path) -> Path:
    """Create `path` (mode 0700) or make an existing one of ours 0700; refuse anyone else's."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeFolder(f"{path} is not a folder.")
    if st.st_uid != os.getuid():
        raise UnsafeFolder(f"{path} belongs to another user; it cannot hold this user's secrets.")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` atomically with a 0600 file holding `data`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_private(path: Path, limit: int = 65536) -> bytes | None:
    """The content of a file of ours that nobody else can read or write; None otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid() or st.st_mode & 0o077 or not stat.S_ISREG(st.st_mode):
            return None
        return os.read(fd, limit)
    finally:
        os.close(fd)
