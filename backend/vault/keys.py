"""Where vault keys come from: the environment, or a key file made on first start; rotation.

`CONNECTED_ACCOUNTS_VAULT_KEYS="kid1:base64key,kid2:base64key"` (first is active) wins. Without
it the keys live in ``<data_dir>/vault-keys.json`` (mode 0600), created on first start
(design: "Command line": "with none configured the backend makes a key file (mode 0600) in its
data folder and says so in its log"). Running backends notice a rotated key file by themselves.
The local companion service keeps them in the OS keyring instead, where there is one
(backend/vault/os_keyring.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from backend.config import Settings
from backend.secret import Secret
from backend.vault.crypto import (
    KeyRing,
    VaultKeyMissing,
    b64decode_key,
    b64encode_key,
    generate_key,
    new_kid,
)
from backend.vault.errors import VaultError

if TYPE_CHECKING:
    from backend.vault.os_keyring import VaultKeyPlace

log = logging.getLogger(__name__)

KEY_FILE_NAME = "vault-keys.json"
ENV_VAR = "CONNECTED_ACCOUNTS_VAULT_KEYS"
# How often a running backend looks at the key file's mtime before sealing (one stat call).
RELOAD_INTERVAL_S = 0.5

try:  # POSIX; on Windows two concurrent rotate-key runs are simply not supported.
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None  # type: ignore[assignment]


def key_file_path(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE_NAME


class FileKeyRing(KeyRing):
    """A key ring backed by the key file: picks up a key added by `rotate-key` while running."""

    def __init__(self, path: Path, keys: list[tuple[str, bytes]]) -> None:
        super().__init__(keys)
        self.path = path
        self._lock = threading.Lock()
        self._stamp = _stamp(path)
        self._checked = time.monotonic()

    def seal(self, plaintext: str | Secret, aad: str) -> str:
        # Seal with the newest active key soon after a rotation, so rotate-key's passes converge.
        if time.monotonic() - self._checked >= RELOAD_INTERVAL_S:
            self.reload()
        return super().seal(plaintext, aad)

    def open(self, blob: str, aad: str) -> Secret:
        try:
            return super().open(blob, aad)
        except VaultKeyMissing as missing:
            # Another process may have rotated the key file since we read it (another thread
            # of ours may even have reloaded it a moment ago: look at the ring, not the result).
            self.reload(force=True)
            if missing.kid not in self:
                raise
            return super().open(blob, aad)

    def reload(self, *, force: bool = False) -> bool:
        """Re-read the key file if it changed; True when the ring changed."""
        with self._lock:
            self._checked = time.monotonic()
            stamp = _stamp(self.path)
            if stamp == self._stamp and not force:
                return False
            try:
                keys = read_key_file(self.path)
            except (OSError, VaultError) as exc:
                log.warning("could not re-read the vault key file %s: %s", self.path, exc)
                return False
            self._stamp = stamp
            if list(self.kids) == [kid for kid, _ in keys]:
                return False
            self._set_keys(keys)
            log.info("vault key file changed; active key is now %s", self.active_kid)
            return True


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def read_key_file(path: Path) -> list[tuple[str, bytes]]:
    return parse_key_body(path.read_bytes(), f"The vault key file {path}")


def parse_key_body(body: bytes, where: str) -> list[tuple[str, bytes]]:
    """`{"version": 1, "keys": [{"kid", "key", "created_at"}, …]}`, first key active."""
    try:
        data = json.loads(body)
        entries = data["keys"]
        keys = [(str(e["kid"]), b64decode_key(str(e["key"]))) for e in entries]
    except (ValueError, KeyError, TypeError):
        raise VaultError(f"{where} is not readable JSON of the expected shape.") from None
    if not keys:
        raise VaultError(f"{where} holds no keys.")
    return keys


def key_file_body(keys: list[tuple[str, bytes]]) -> str:
    return _file_body([_key_entry(kid, key) for kid, key in keys]).decode("utf-8")


def _file_body(keys: list[dict[str, Any]]) -> bytes:
    return (json.dumps({"version": 1, "keys": keys}, indent=2) + "\n").encode("utf-8")


def _key_entry(kid: str, key: bytes) -> dict[str, Any]:
    created = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {"kid": kid, "key": b64encode_key(key), "created_at": created}


def _write_private_tmp(path: Path, body: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def _create_key_file(path: Path) -> bool:
    """Create the key file with one fresh key unless it exists; True when this call made it.

    The content is written to a private temp file first and then hard-linked into place:
    link() fails if the name exists (like O_EXCL) and readers never see a half-written file,
    so two processes starting together end up with the same (the first) keys.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        return False
    tmp = _write_private_tmp(path, _file_body([_key_entry(new_kid(), generate_key())]))
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    _fsync_dir(path.parent)
    return True


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _load_key_file(path: Path) -> FileKeyRing:
    if _create_key_file(path):
        ring = FileKeyRing(path, read_key_file(path))
        log.warning(
            "No vault keys were configured, so the backend created the vault key file %s "
            "(mode 0600, key id %s). Back it up: without it the stored tokens cannot be read.",
            path,
            ring.active_kid,
        )
        return ring
    mode = path.stat().st_mode
    if mode & 0o077:
        log.warning(
            "The vault key file %s can be read by other users (mode %o); run chmod 600 on it.",
            path,
            mode & 0o777,
        )
    return FileKeyRing(path, read_key_file(path))


def load_keyring(settings: Settings) -> KeyRing:
    """The env var's keys when set, else the OS keyring (local service) or the key file."""
    return load_keyring_and_place(settings)[0]


def load_keyring_and_place(settings: Settings) -> tuple[KeyRing, VaultKeyPlace | None]:
    """The key ring, and for the local service where its key lives (for the window)."""
    from backend.vault.os_keyring import keys_in_keyring, load_local_keyring

    if settings.vault_keys:
        ring = KeyRing.parse(settings.vault_keys)
        log.info("vault keys from %s; active key %s", ENV_VAR, ring.active_kid)
        return ring, None
    if settings.local_service or keys_in_keyring(settings):
        return load_local_keyring(settings)
    file_ring = _load_key_file(key_file_path(settings))
    log.info("vault keys from %s; active key %s", file_ring.path, file_ring.active_kid)
    return file_ring, None


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise rotate-key runs that edit the same key file."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def add_key_to_file(path: Path) -> FileKeyRing:
    """Put a fresh key first (active) in the key file, keeping the old ones to read with."""
    _load_key_file(path)  # creates it on a fresh install
    with _file_lock(path):
        data = json.loads(path.read_text(encoding="utf-8"))
        entries: list[dict[str, Any]] = list(data["keys"])
        entries.insert(0, _key_entry(new_kid(), generate_key()))
        tmp = _write_private_tmp(path, _file_body(entries))
        os.replace(tmp, path)  # atomic: readers see the old file or the new one
        _fsync_dir(path.parent)
    ring = FileKeyRing(path, read_key_file(path))
    log.info("added vault key %s to %s", ring.active_kid, path)
    return ring


def rotate_key(settings: Settings, sessions: sessionmaker[Session]) -> str:
    """Make a new key active and re-encrypt every stored secret with it; a summary in words."""
    from backend.vault.os_keyring import RELOAD_INTERVAL_S as OS_KEYRING_RELOAD_S
    from backend.vault.os_keyring import add_key_to_keyring, keys_in_keyring
    from backend.vault.rotation import reencrypt_all

    ring: KeyRing

    if settings.vault_keys:
        ring = KeyRing.parse(settings.vault_keys)
        if len(ring) == 1:
            # We cannot edit another process's environment; re-encrypting now with a key the
            # running backends do not have would lock them out of every token.
            kid = new_kid()
            return (
                f"The vault keys come from {ENV_VAR}, so rotate-key cannot store a new key "
                "itself. To rotate:\n"
                f"  1. Set on every backend process: {ENV_VAR}="
                f"{kid}:{b64encode_key(generate_key())},<the current value>\n"
                "  2. Restart them.\n"
                f"  3. Run rotate-key again with that value to re-encrypt every secret with {kid}."
            )
        where = f"from {ENV_VAR}"
        settle_s = 0.0
    elif keys_in_keyring(settings):
        in_keyring = add_key_to_keyring(settings)
        ring, where = in_keyring, f"from the {in_keyring.store.name}"
        settle_s = 2 * OS_KEYRING_RELOAD_S + 0.25
    else:
        ring = add_key_to_file(key_file_path(settings))
        where = f"from {ring.path}"
        # Running backends may seal with the old key until they notice the new file.
        settle_s = 2 * RELOAD_INTERVAL_S + 0.25
    result = reencrypt_all(sessions, ring, settle_s=settle_s)
    old = ", ".join(k for k in ring.kids if k != ring.active_kid)
    summary = f"Re-encrypted {result.resealed} secrets with key {ring.active_kid}"
    if result.unreadable:
        return (
            f"{summary}; {result.unreadable} secrets could not be read (damaged, or sealed with "
            "a key that is not configured) and were left as they are, so keep the old keys."
        )
    if not old:
        return summary + "."
    many = "keys" if "," in old else "key"
    return f"{summary}; the old {many} {old} can now be removed ({where})."
