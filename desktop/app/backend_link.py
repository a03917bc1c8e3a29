"""Reaching the backend: the local service (found or started) or a remote one, off the UI thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from desktop.app.controller import Controller
from desktop.concurrency.tasks import run_in_background
from desktop.config import DESKTOP_APP, device_name
from desktop.views.errors import describe_error

if TYPE_CHECKING:
    # httpx, keyring, PyJWT and cryptography load on the worker that first needs them, after
    # the window has painted (bench/cold_start.py).
    from desktop.account.local_backend import LocalBackend
    from desktop.account.secure_store import SecureStore
    from desktop.account.session import Session
    from desktop.views.sign_in import SignInDialog

LocalFactory = Callable[[], "LocalBackend"]


def _local_backend() -> LocalBackend:
    from desktop.account.local_backend import LocalBackend

    return LocalBackend(client=DESKTOP_APP)


def _open_store() -> SecureStore:
    from desktop.account.secure_store import open_store

    return open_store()


class BackendLink(QObject):
    """Owns the local-service link or the remote session; hands the controller an ApiClient."""

    ready = Signal(str)
    """The backend answers and the user is signed in: (base URL)."""
    failed = Signal(str)
    """The backend could not be started or reached: (message in words)."""

    def __init__(
        self,
        controller: Controller,
        backend_url: str | None,
        *,
        local_factory: LocalFactory = _local_backend,
        store_factory: Callable[[], SecureStore] = _open_store,
    ) -> None:
        super().__init__(controller)
        self.controller = controller
        self.window = controller.window
        self.backend_url = backend_url
        self._local_factory = local_factory
        self._store_factory = store_factory
        self.local: LocalBackend | None = None
        self.session: Session | None = None
        self.sign_in_dialog: SignInDialog | None = None
        self.window.retry_requested.connect(self._on_window_retry_requested)
        self.window.sign_in_requested.connect(self.ask_sign_in)
        self.window.sign_out_requested.connect(self.sign_out)

    def start(self) -> None:
        if self.backend_url is None:
            self._start_local()
        else:
            self._restore_remote(self.backend_url)

    # -- the local service --------------------------------------------------------------------
    def _start_local(self) -> None:
        self.window.set_remote(False, signed_in=True)
        self.window.set_backend_text("Companion service on this computer")
        self.window.set_status("Starting the companion service on this computer…")
        local = self._local_factory()  # cheap: the service is found or started on the worker
        self.local = local
        run_in_background(
            self, local.start, success=self._on_local_started, failure=self._on_failed
        )

    def _on_local_started(self, url: str) -> None:
        local = self.local
        if local is None or local.session is None:
            return
        self.session = local.session
        vault = local.vault_key() or {}
        self.window.set_vault_key_place(str(vault.get("kind") or ""), vault.get("reason"))
        self._use(url, local.session)

    # -- remote -------------------------------------------------------------------------------
    def _restore_remote(self, url: str) -> None:
        self.window.set_remote(True, signed_in=False)
        self.window.set_backend_text(f"Companion service at {url} · not signed in")
        self.window.set_status(f"Signing in to {url}…")
        store_factory = self._store_factory

        def restore() -> Session | None:
            from desktop.account.session import Session

            session = Session(url, store_factory())
            return session if session.restore() else None

        run_in_background(
            self,
            restore,
            success=lambda session: self._on_restored(url, session),
            failure=self._on_failed,
        )

    def _on_restored(self, url: str, session: Session | None) -> None:
        if session is None:
            self.window.set_signed_out(f"Sign in to {url} to see your connections.")
            self.window.set_status("Not signed in")
            self.ask_sign_in()
            return
        self.session = session
        self._use(url, session)

    def sign_in_op(self, url: str, email: str, password: str) -> Session:
        """Runs on a worker thread (keyring and network)."""
        from desktop.account.session import Session

        session = Session(url, self._store_factory())
        session.login(email, password, device_name=device_name(DESKTOP_APP))
        return session

    def ask_sign_in(self) -> SignInDialog:
        from desktop.views.sign_in import SignInDialog

        dialog = SignInDialog(self.sign_in_op, url=self.backend_url or "", parent=self.window)
        dialog.signed_in.connect(self._on_sign_in_dialog_signed_in)
        self.sign_in_dialog = dialog
        dialog.open()
        return dialog

    def _on_sign_in_dialog_signed_in(self, session: Any) -> None:
        from desktop.account.session import Session

        assert isinstance(session, Session)
        self.backend_url = session.base_url
        self.session = session
        self.window.session_banner.hide()
        self._use(session.base_url, session)

    def sign_out(self) -> None:
        session = self.session
        if session is None:
            return
        self.session = None
        self.controller.attach(None)
        self.controller.model.set_connections([])
        self.window.set_remote(True, signed_in=False)
        self.window.set_backend_text(f"Companion service at {session.base_url} · signed out")
        self.window.set_status("Signed out")
        self.window.set_signed_out("You are signed out. Sign in to see your connections.")
        run_in_background(self, session.logout, success=lambda _: None)

    # -- common -------------------------------------------------------------------------------
    def _use(self, url: str, session: Session) -> None:
        remote = self.local is None
        self.window.set_remote(remote, signed_in=True)
        self.window.set_memory_only(not session.persistent, session.storage_reason, remote=remote)
        where = "on this computer" if not remote else f"at {url}"
        who = f" · signed in as {session.user_email}" if remote and session.user_email else ""
        self.window.set_backend_text(f"Companion service {where}{who}")
        from desktop.api.client import ApiClient  # loaded already, by the session's worker

        local = self.local
        if local is None:
            client = ApiClient(url, auth=session)
        else:
            client = ApiClient(url, auth=session, rebase=local.rebase, loopback=True)
        self.controller.attach(client)
        self.ready.emit(url)

    def _on_failed(self, error: Exception) -> None:
        from desktop.account.localsvc import LocalServiceError

        message = str(error) if isinstance(error, LocalServiceError) else describe_error(error)
        self.window.set_offline(message)
        self.window.set_status("Not connected to the companion service")
        self.failed.emit(message)

    def _on_window_retry_requested(self) -> None:
        if self.controller.client is None and self.session is None:
            self.start()

    def switch(self, backend_url: str | None) -> None:
        """Use another backend (from Settings): drop the current one, then start again."""
        if backend_url == self.backend_url and self.controller.client is not None:
            return
        local, self.local = self.local, None
        self.session = None
        self.controller.attach(None)
        self.controller.model.set_connections([])
        self.window.set_offline(None)
        self.window.session_banner.hide()
        self.window.set_memory_only(False, None, remote=backend_url is not None)  # its session's
        self.backend_url = backend_url
        if local is not None:
            run_in_background(self, local.stop, success=lambda _: None)
        self.start()

    def stop(self) -> None:
        """At exit: close the client; the local service stops by itself once no client is left."""
        self.controller.attach(None)
        if self.local is not None:
            self.local.stop()
            self.local = None
