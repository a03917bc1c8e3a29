"""The device's backend session in the OS keyring — never in a file; memory only as a fallback."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from desktop.api.secret import Secret

log = logging.getLogger(__name__)

SERVICE = "connected-accounts"
KEYRING_TIMEOUT = 10.0
# Only stores the operating system protects. keyrings.alt's plaintext and "encrypted" files,
# the `fail` and `null` backends and anything unknown are refused.
ALLOWED_BACKENDS = {
    "keyring.backends.SecretService.Keyring": "SecretService",
    "keyring.backends.macOS.Keyring": "macOS Keychain",
    "keyring.backends.Windows.WinVaultKeyring": "Windows Credential Locker",
}

T = TypeVar("T")


class SecureStoreUnavailable(Exception):
    """The keyring cannot be used; the message says why in plain words."""


@dataclass(frozen=True)
class DeviceRecord:
    """What this device keeps for one backend; the key and token never show in a repr."""

    device_id: str
    private_key_pem: Secret
    access_token: Secret | None
    user_email: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "device_id": self.device_id,
                "private_key_pem": self.private_key_pem.reveal(),
                "access_token": self.access_token.reveal() if self.access_token else None,
                "user_email": self.user_email,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> DeviceRecord:
        data = json.loads(text)
        token = data.get("access_token")
        return cls(
            device_id=str(data["device_id"]),
            private_key_pem=Secret(str(data["private_key_pem"])),
            access_token=Secret(str(token)) if token else None,
            user_email=str(data.get("user_email") or ""),
        )


class SecureStore:
    """Interface: one record per backend URL."""

    persistent: bool = False
    reason: str | None = None
    description: str = "memory only"

    def load(self, backend_url: str) -> DeviceRecord | None:
        raise NotImplementedError

    def save(self, backend_url: str, record: DeviceRecord) -> None:
        raise NotImplementedError

    def delete(self, backend_url: str) -> None:
        raise NotImplementedError


class MemoryStore(SecureStore):
    """Kept for this run only: the user signs in again next time."""

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason
        self._records: dict[str, DeviceRecord] = {}
        self._lock = threading.Lock()

    def load(self, backend_url: str) -> DeviceRecord | None:
        with self._lock:
            return self._records.get(_key(backend_url))

    def save(self, backend_url: str, record: DeviceRecord) -> None:
        with self._lock:
            self._records[_key(backend_url)] = record

    def delete(self, backend_url: str) -> None:
        with self._lock:
            self._records.pop(_key(backend_url), None)


class KeyringStore(SecureStore):
    """Records in an allowed OS keyring; every call has a timeout."""

    persistent = True

    def __init__(self, backend: Any, name: str, *, timeout: float = KEYRING_TIMEOUT) -> None:
        self._backend = backend
        self._timeout = timeout
        self.description = f"keyring ({name})"

    def load(self, backend_url: str) -> DeviceRecord | None:
        text = _call(self._timeout, self._backend.get_password, SERVICE, _key(backend_url))
        if not text:
            return None
        try:
            return DeviceRecord.from_json(text)
        except (ValueError, KeyError, TypeError):
            log.warning("Ignoring an unreadable sign-in record in the keyring")
            return None

    def save(self, backend_url: str, record: DeviceRecord) -> None:
        _call(
            self._timeout, self._backend.set_password, SERVICE, _key(backend_url), record.to_json()
        )

    def delete(self, backend_url: str) -> None:
        if self.load(backend_url) is None:
            return
        _call(self._timeout, self._backend.delete_password, SERVICE, _key(backend_url))


def backend_name(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__name__}"


def choose_backend(backend: Any) -> tuple[Any, str]:
    """The allowed backend to use, looking inside keyring's chainer; else SecureStoreUnavailable."""
    candidates = list(getattr(backend, "backends", None) or [backend])
    for candidate in candidates:
        name = ALLOWED_BACKENDS.get(backend_name(candidate))
        if name is not None:
            return candidate, name
    names = ", ".join(type(c).__name__ for c in candidates) or "none"
    raise SecureStoreUnavailable(
        "no system keyring is available (found only: "
        f"{names}, which would not keep the sign-in protected)."
    )


def open_store(backend: Any | None = None, *, timeout: float = KEYRING_TIMEOUT) -> SecureStore:
    """The OS keyring if an allowed one answers; otherwise a memory-only store with a `reason`."""
    try:
        if backend is None:
            direct = _secret_service_directly(timeout)
            if direct is not None:
                return direct
            import keyring

            backend = _call(timeout, keyring.get_keyring)
        chosen, name = choose_backend(backend)
        store = KeyringStore(chosen, name, timeout=timeout)
        store.load("probe:")  # a locked or absent Secret Service fails here, not mid-sign-in
        return store
    except SecureStoreUnavailable as exc:
        log.warning("Keeping the sign-in in memory only: %s", exc)
        return MemoryStore(reason=str(exc))


def _secret_service_directly(timeout: float) -> KeyringStore | None:
    """On Linux with no keyring configuration, the Secret Service without keyring's backend
    discovery (it loads every backend, and the macOS one runs ctypes' find_library: a tenth
    of a second of a short command). None: let keyring choose as usual."""
    if not sys.platform.startswith("linux") or os.environ.get("PYTHON_KEYRING_BACKEND"):
        return None
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return None
    try:
        from keyring.backends import SecretService
        from keyring.util import platform_

        if (Path(platform_.config_root()) / "keyringrc.cfg").exists():
            return None
        backend = SecretService.Keyring()  # type: ignore[no-untyped-call]
        store = KeyringStore(backend, "SecretService", timeout=timeout)
        store.load("probe:")
    except (ImportError, SecureStoreUnavailable):
        return None
    return store


def _key(backend_url: str) -> str:
    return backend_url.rstrip("/")


def _call(timeout: float, fn: Callable[..., T], *args: Any) -> T:
    """Run one keyring call in a daemon thread; a prompt that never ends cannot hang us."""
    box: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            box.append(fn(*args))
        except BaseException as exc:  # carried back to the caller's thread
            error.append(exc)

    worker = threading.Thread(target=run, name="keyring-call", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise SecureStoreUnavailable(
            f"the system keyring did not answer within {timeout:g} seconds (it may be locked)."
        )
    if error:
        exc = error[0]
        # Keyring errors may quote D-Bus details; only the kind of failure is kept.
        raise SecureStoreUnavailable(
            f"the system keyring refused the request ({type(exc).__name__})."
        ) from None
    return box[0]
