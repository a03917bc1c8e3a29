"""The user's local companion service, signed in: found or started (desktop/account/localsvc.py),
then a device session that proves the same OS user with the service's runtime secret.

No password exists for the local user. The device key sits in the OS keyring under a key
naming the service's data folder, so the next process signs in silently (JWT-bearer renewal,
as with a remote backend) and never needs the secret again.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from backend.localsvc.paths import data_dir, runtime_dir
from desktop.account import localsvc
from desktop.account.localsvc import LocalServiceError, Running
from desktop.api.errors import ApiError
from desktop.config import COMMAND_LINE, device_name

if TYPE_CHECKING:  # PyJWT, cryptography and httpx load on the worker that starts the service
    from desktop.account.secure_store import SecureStore
    from desktop.account.session import Session

STORE_PREFIX = "local-service"


def store_key(client: str = COMMAND_LINE) -> str:
    """The keyring key of this service's sign-in: one per data folder (its database) and
    client, so the window and the commands are two devices a person can tell apart (and
    sign out one by one). The commands keep the key all clients once shared."""
    base = f"{STORE_PREFIX} {data_dir().resolve()}"
    return base if client == COMMAND_LINE else f"{base} ({client})"


class LocalBackend:
    """`start()` (blocking: run it off the UI thread) → base URL; `session` signs requests."""

    def __init__(
        self,
        *,
        store: SecureStore | None = None,
        start_timeout: float = localsvc.START_TIMEOUT_S,
        client: str = COMMAND_LINE,
    ) -> None:
        self.base_url: str | None = None
        self.session: Session | None = None
        self.running: Running | None = None
        self._store = store
        self._start_timeout = start_timeout
        self._client = client
        self._device_name = device_name(client)

    def start(self) -> str:
        store_box: list[Any] = []
        opener = None
        if self._store is None:
            # The keyring answers over D-Bus while the service starts (the first command).
            opener = threading.Thread(target=lambda: store_box.append(_open_store()), daemon=True)
            opener.start()
        running = localsvc.ensure(self._start_timeout)
        if opener is not None:
            opener.join()
        store = self._store if self._store is not None else (store_box or [_open_store()])[0]
        from desktop.account.session import Session

        session = Session(running.url, store, store_key=store_key(self._client), loopback=True)
        try:
            if not session.restore():
                # One sign-in at a time, so racing first commands keep one device, not several.
                with localsvc.start_lock(runtime_dir()):
                    if not session.restore():
                        session.login_local(running.secret, self._device_name)
        except BaseException:
            session.close()
            raise
        self.running, self.session, self.base_url = running, session, running.url
        return running.url

    def rebase(self) -> str:
        """Find or start the service again after it went away (idle stop, `service stop`)."""
        try:
            running = localsvc.ensure(self._start_timeout)
        except LocalServiceError as exc:
            raise ApiError("network", str(exc)) from None
        self.running, self.base_url = running, running.url
        if self.session is not None:
            self.session.rebase(running.url)
        return running.url

    def vault_key(self) -> dict[str, Any] | None:
        """Where the service keeps its vault key (`kind` keyring or file, `where`, `reason`)."""
        value = self.running.hello.get("vault_key") if self.running else None
        return value if isinstance(value, dict) else None

    def stop(self) -> None:
        """Let go of the service (it stops by itself when no client is left)."""
        if self.session is not None:
            self.session.close()

    def __enter__(self) -> LocalBackend:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _open_store() -> SecureStore:
    from desktop.account.secure_store import open_store

    return open_store()
