"""The local service's vault keys in the OS keyring (Secret Service), not beside the database.

Only real OS keyrings are used (Secret Service, macOS Keychain, Windows Credential Locker);
`keyrings.alt`'s plaintext files and the `fail` backend are refused. Every call runs in a
daemon thread with a timeout: a locked collection can prompt forever.

An existing key file moves into the keyring once (read back and compared before the file is
removed). A marker file (no secret in it) remembers that the keys live in the keyring, so a
keyring that is locked or gone later stops the service with words instead of silently making
a new key that could not open the stored tokens.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from backend.config import Settings
from backend.secret import Secret
from backend.vault.crypto import KeyRing, VaultKeyMissing, generate_key, new_kid
from backend.vault.errors import VaultError

log = logging.getLogger(__name__)
T = TypeVar("T")

SERVICE = "connected-accounts-backend"
MARKER_FILE = "vault-keys.location"
TIMEOUT_S = 10.0
RELOAD_INTERVAL_S = 2.0
ALLOWED = {
    "keyring.backends.SecretService.Keyring": "Secret Service",
    "keyring.backends.macOS.Keyring": "macOS Keychain",
    "keyring.backends.Windows.WinVaultKeyring": "Windows Credential Locker",
}


class KeyringUnavailable(Exception):
    """No usable OS keyring; the message says why in plain words."""


@dataclass(frozen=True)
class VaultKeyPlace:
    """Where the vault key lives, for the window's notice (no key material)."""

    kind: str  # "keyring" or "file"
    where: str  # the keyring's name, or the key file's path
    reason: str | None = None  # why not the keyring


def _call(fn: Callable[..., T], *args: Any) -> T:
    box: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            box.append(fn(*args))
        except BaseException as exc:  # carried to the caller's thread
            error.append(exc)

    worker = threading.Thread(target=run, name="vault-keyring", daemon=True)
    worker.start()
    worker.join(TIMEOUT_S)
    if worker.is_alive():
        raise KeyringUnavailable(
            f"the system keyring did not answer within {TIMEOUT_S:g} seconds (it may be locked)"
        )
    if error:
        # D-Bus errors may quote details; only the kind of failure is kept.
        kind = type(error[0]).__name__
        raise KeyringUnavailable(f"the system keyring refused the request ({kind})")
    return box[0]


class OsKeyring:
    """One item per data folder: service `connected-accounts-backend`, user `vault-keys …`."""

    def __init__(self, backend: Any, name: str, item: str) -> None:
        self._backend = backend
        self.name = name
        self.item = item

    @classmethod
    def open(cls, data_dir: Path) -> OsKeyring:
        def pick() -> tuple[Any, str] | None:
            direct = _secret_service_directly()
            if direct is not None:
                return direct, ALLOWED["keyring.backends.SecretService.Keyring"]
            import keyring

            chosen = keyring.get_keyring()
            for candidate in list(getattr(chosen, "backends", None) or [chosen]):
                kind = type(candidate)
                name = ALLOWED.get(f"{kind.__module__}.{kind.__name__}")
                if name is not None:
                    return candidate, name
            return None

        found = _call(pick)
        if found is None:
            raise KeyringUnavailable("this session has no system keyring (Secret Service)")
        store = cls(found[0], found[1], f"vault-keys {data_dir.resolve()}")
        store.read()  # a locked or absent Secret Service fails here
        return store

    def read(self) -> str | None:
        value: str | None = _call(self._backend.get_password, SERVICE, self.item)
        return value

    def write(self, body: str) -> None:
        _call(self._backend.set_password, SERVICE, self.item, body)


def _secret_service_directly() -> Any | None:
    """On Linux with no keyring configuration: the Secret Service backend without keyring's
    discovery, which loads every backend (the macOS one runs ctypes' find_library)."""
    if not sys.platform.startswith("linux") or os.environ.get("PYTHON_KEYRING_BACKEND"):
        return None
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return None
    try:
        from keyring.backends import SecretService
        from keyring.util import platform_
    except ImportError:
        return None
    if (Path(platform_.config_root()) / "keyringrc.cfg").exists():
        return None
    return SecretService.Keyring()  # type: ignore[no-untyped-call]


class KeyringKeyRing(KeyRing):
    """Keys held in the OS keyring; notices a key that `rotate-key` added meanwhile."""

    def __init__(self, store: OsKeyring, keys: list[tuple[str, bytes]]) -> None:
        super().__init__(keys)
        self.store = store
        self._lock = threading.Lock()
        self._checked = time.monotonic()

    def seal(self, plaintext: str | Secret, aad: str) -> str:
        if time.monotonic() - self._checked >= RELOAD_INTERVAL_S:
            self.reload()
        return super().seal(plaintext, aad)

    def open(self, blob: str, aad: str) -> Secret:
        try:
            return super().open(blob, aad)
        except VaultKeyMissing as missing:
            self.reload()
            if missing.kid not in self:
                raise
            return super().open(blob, aad)

    def reload(self) -> None:
        with self._lock:
            self._checked = time.monotonic()
            try:
                body = self.store.read()
                keys = _parse(body) if body else []
            except (KeyringUnavailable, VaultError) as exc:
                log.warning("could not re-read the vault keys from the keyring: %s", exc)
                return
            if keys and list(self.kids) != [kid for kid, _ in keys]:
                self._set_keys(keys)
                log.info("vault keys changed in the keyring; active key is now %s", self.active_kid)


def _parse(body: str) -> list[tuple[str, bytes]]:
    from backend.vault.keys import parse_key_body

    return parse_key_body(body.encode("utf-8"), "the keyring item")


def _marker(settings: Settings) -> Path:
    return settings.data_dir / MARKER_FILE


def keys_in_keyring(settings: Settings) -> bool:
    try:
        return _marker(settings).read_text(encoding="utf-8").strip() == "keyring"
    except OSError:
        return False


def load_local_keyring(settings: Settings) -> tuple[KeyRing, VaultKeyPlace]:
    """The local service's vault keys: the OS keyring where one exists, else the key file."""
    from backend.vault.keys import _load_key_file, key_file_path

    path = key_file_path(settings)
    try:
        store = OsKeyring.open(settings.data_dir)
    except KeyringUnavailable as exc:
        if keys_in_keyring(settings):
            raise VaultError(
                f"The vault key is kept in your system keyring, which cannot be used now ({exc}). "
                "Unlock the keyring (log in to your desktop session) and start again."
            ) from None
        ring = _load_key_file(path)
        log.warning("vault key kept in the 0600 file %s: %s", path, exc)
        return ring, VaultKeyPlace("file", str(path), str(exc))
    return _into_keyring(settings, store, path), VaultKeyPlace("keyring", store.name)


def _into_keyring(settings: Settings, store: OsKeyring, path: Path) -> KeyringKeyRing:
    from backend.vault.keys import _fsync_dir, key_file_body, read_key_file

    body = store.read()
    held = _parse(body) if body else []
    from_file = read_key_file(path) if path.exists() else []
    keys = held + [(kid, key) for kid, key in from_file if kid not in dict(held)]
    if not keys:
        if keys_in_keyring(settings):
            log.warning(
                "The vault key is missing from the keyring; a new one was made. Tokens sealed "
                "with the old key cannot be read: those connections need to be connected again."
            )
        keys = [(new_kid(), generate_key())]
        log.info("made a new vault key %s in the %s", keys[0][0], store.name)
    if keys != held:
        wanted = key_file_body(keys)
        store.write(wanted)
        if store.read() != wanted:
            raise VaultError("The system keyring did not keep the vault key; nothing was moved.")
    marker = _marker(settings)
    if not keys_in_keyring(settings):
        with contextlib.suppress(FileNotFoundError):
            marker.unlink()
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"keyring\n")
        finally:
            os.close(fd)
    if from_file:
        path.unlink()
        _fsync_dir(path.parent)
        log.warning("moved the vault key file %s into the %s and removed it", path, store.name)
    return KeyringKeyRing(store, keys)


def add_key_to_keyring(settings: Settings) -> KeyringKeyRing:
    """rotate-key for keys in the keyring: a fresh active key first, the old ones kept."""
    from backend.vault.keys import key_file_body

    store = OsKeyring.open(settings.data_dir)
    body = store.read()
    keys = _parse(body) if body else []
    keys.insert(0, (new_kid(), generate_key()))
    store.write(key_file_body(keys))
    return KeyringKeyRing(store, keys)
