"""Private files: the data folder is 0700 and every file a backend command makes is 0600.

The folder holds the SQLite database (and its -wal/-shm files), the vault and signing key
files and the local sandbox state: all of it is as secret as the tokens themselves. Every
command (serve, create-user, migrate, rotate-key, set-password …) runs under umask 077, so
whichever one makes a file first makes it private; SQLite gives -wal and -shm the database
file's own mode. A folder or file that already exists is never re-moded behind the
operator's back: the log says what is looser than it should be and how to fix it.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def use_private_umask() -> None:
    """Files this process creates are readable by its user only (0600 files, 0700 folders)."""
    os.umask(PRIVATE_UMASK)


def _warn_if_loose(path: Path, want: int, what: str) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & ~want & 0o777:
        log.warning(
            "The %s %s can be read by other users of this computer (mode %o); run: chmod %o %s",
            what,
            path,
            mode,
            want,
            path,
        )


def private_folder(path: Path) -> None:
    """Make `path` (and missing parents) as 0700, or warn when an existing one is looser."""
    if path.is_dir():
        _warn_if_loose(path, 0o700, "data folder")
        return
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    # mkdir's mode is masked by the umask; say exactly what is meant.
    os.chmod(path, 0o700)


def sqlite_path(database_url: str) -> Path | None:
    """The file of an SQLite URL (None for PostgreSQL and in-memory databases)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def prepare_storage(data_dir: Path, database_url: str) -> None:
    """The data folder 0700; the SQLite database's folder too; warnings for loose old files."""
    private_folder(data_dir)
    db = sqlite_path(database_url)
    if db is None:
        return
    if db.parent.resolve() != data_dir.resolve():
        private_folder(db.parent)
    for suffix in SQLITE_SUFFIXES:
        _warn_if_loose(db.with_name(db.name + suffix), 0o600, "database file")
