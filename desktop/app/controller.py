"""Wires the window to the backend: every call goes through `run_in_background`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.api.errors import ApiError
from desktop.app.live import LiveUpdates
from desktop.app.notify import Notifier
from desktop.concurrency.tasks import run_in_background
from desktop.models.connections import Connection, ConnectionsModel
from desktop.views.errors import describe_error
from desktop.views.main_window import MainWindow

if TYPE_CHECKING:  # imported when first used: the window paints before httpx and the dialogs load
    from desktop.api.client import ApiClient
    from desktop.models.cache import Cache
    from desktop.models.report_query import ReportQuery
    from desktop.views.connect_dialog import ConnectDialog
    from desktop.views.disconnect_dialog import DisconnectDialog

log = logging.getLogger(__name__)

T = TypeVar("T")

CHECK_INTERVAL_MS = 15 * 60 * 1000


class Controller(QObject):
    """Owns the API client for the current backend and answers the window's requests."""

    connections_loaded = Signal()
    """The backend's connection list is on screen."""
    check_finished = Signal(str)
    """A status check of one connection finished: (connection id)."""
    backend_failed = Signal(str)
    """The backend could not be reached or refused: (message in words)."""
    live_change_applied = Signal(str, str)
    """A live update changed the list, with no user action: (event kind, connection id)."""
    list_reloaded = Signal()
    """The list was re-read because the live updates (re)opened."""

    def __init__(
        self,
        window: MainWindow,
        model: ConnectionsModel,
        cache: Cache | None,
        notifier: Notifier,
        *,
        open_url: Callable[[str], object] | None = None,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.model = model
        self.cache = cache
        self.notifier = notifier
        self.open_url = open_url or _open_in_browser
        self.client: ApiClient | None = None
        self._listed = False  # the backend's list arrived at least once
        self.dialog: ConnectDialog | DisconnectDialog | None = None
        window.set_report_cache(cache)
        window.connect_requested.connect(self._on_window_connect_requested)
        window.refresh_requested.connect(self.refresh)
        window.retry_requested.connect(self.refresh)
        window.accounts.reconnect_requested.connect(self._on_accounts_reconnect_requested)
        window.accounts.disconnect_requested.connect(self._on_accounts_disconnect_requested)
        model.status_changed.connect(self._on_model_status_changed)
        # The in-window reconnect notice goes when its connection is gone or fine again.
        self._notice_for: str | None = None
        model.rowsRemoved.connect(self._sync_notice)
        model.modelReset.connect(self._sync_notice)
        notifier.fallback_requested.connect(window.show_notice)
        self.check_timer = QTimer(self)
        self.check_timer.setInterval(CHECK_INTERVAL_MS)
        self.check_timer.timeout.connect(self.check_all)
        # Not parented: it lives while its reader thread runs (desktop.app.live).
        self.live = LiveUpdates(lambda: self.client)
        self.live.opened.connect(self._on_live_opened)
        self.live.event_received.connect(self._on_live_event_received)
        self.live.lost.connect(self._on_live_lost)
        self._changes_while_reloading: list[Connection] | None = None

    # -- start-up -----------------------------------------------------------------------------
    def load_cached(self, then: Callable[[], None] | None = None) -> None:
        """Show last run's list at once, before the backend answers; then call `then()` (also
        when there is no cache or it cannot be read: a broken cache never stops the app)."""
        done = then or (lambda: None)
        if self.cache is None:
            QTimer.singleShot(0, done)
            return
        cache = self.cache
        ready = cache.preloaded_connections()
        if ready is not None:
            # Read while the window was built: in the model before the window first paints.
            self._on_cache_loaded(ready)
            QTimer.singleShot(0, done)
            return

        def loaded(items: list[dict[str, Any]]) -> None:
            self._on_cache_loaded(items)
            done()

        def unreadable(error: Exception) -> None:
            log.warning("The saved connection list could not be read: %s", type(error).__name__)
            done()

        run_in_background(self, cache.load_connections, success=loaded, failure=unreadable)

    def _on_cache_loaded(self, items: list[dict[str, Any]]) -> None:
        # The backend may have answered first; its list always wins over the saved one.
        if not self._listed and items and self.model.rowCount() == 0:
            saved = [Connection.from_api(body) for body in items]
            self.model.set_connections(saved, cached=True)
            self.window.accounts.set_note("Saved list from last time — checking now…")

    def attach(self, client: ApiClient | None) -> None:
        """Use `client` from now on (None: no backend, e.g. signed out)."""
        old, self.client = self.client, client
        if old is not None and old is not client:
            old.close()
        self.window.set_report_fetch(self._fetch_report if client is not None else None)
        if client is None:
            self.check_timer.stop()
            self.live.stop()
            return
        self.check_timer.start()
        self.refresh()
        self.live.start()

    def _while_attached(self, client: ApiClient, then: Callable[[T], None]) -> Callable[[T], None]:
        """`then`, but only while `client` is still the one in use: an answer from a backend the
        user has since left (switched, signed out) must not repaint the new one's state."""

        def deliver(value: T) -> None:
            if self.client is client:
                then(value)

        return deliver

    # -- list and checks ------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the list from the backend, then check each connection at the provider."""
        client = self.client
        if client is None:
            return
        self.window.set_status("Checking your connections…")
        run_in_background(
            self,
            client.connections,
            success=self._while_attached(client, self._on_list_loaded),
            failure=self._while_attached(client, self._on_backend_failed),
        )

    def _on_list_loaded(self, items: list[Connection]) -> None:
        self._listed = True
        self.window.set_offline(None)
        self.model.set_connections(items)
        self.window.accounts.set_note("")
        self._save_list()
        self.connections_loaded.emit()
        self.check_all()

    def _save_list(self) -> None:
        if self.cache is None:
            return
        cache = self.cache
        snapshot = self.model.raw_items()
        run_in_background(self, lambda: cache.save_connections(snapshot), success=lambda _: None)

    def check_all(self) -> None:
        for item in self.model.items():
            self.check(item.id)
        if not self.model.items():
            self.window.set_status("No connections yet")

    def check(self, connection_id: str) -> None:
        """Ask the backend to validate one connection against its provider."""
        client = self.client
        if client is None:
            return
        self.model.set_checking(connection_id, True)
        run_in_background(
            self,
            lambda: client.connection(connection_id, check=True),
            success=self._while_attached(client, self._on_check_finished),
            failure=self._while_attached(
                client, lambda error: self._on_check_failed(connection_id, error)
            ),
        )

    def _on_check_finished(self, connection: Connection) -> None:
        self.model.upsert(connection, answers_check=True)
        self._after_check(connection.id)

    def _on_check_failed(self, connection_id: str, error: Exception) -> None:
        self.model.set_checking(connection_id, False)
        if isinstance(error, ApiError) and error.code == "not_found":
            self.model.remove(connection_id)
        elif isinstance(error, ApiError) and error.code in {"network", "unauthorized"}:
            self._on_backend_failed(error)
        self._after_check(connection_id)

    def _after_check(self, connection_id: str) -> None:
        if not any(item.checking for item in self.model.items()):
            self.window.set_status(f"All connections checked at {datetime.now():%H:%M}")
            self._save_list()
        self.check_finished.emit(connection_id)

    def _on_backend_failed(self, error: Exception) -> None:
        message = describe_error(error)
        if isinstance(error, ApiError) and error.code == "unauthorized":
            self.window.set_signed_out(message)  # the cure is signing in, not "Try again"
            self.window.set_status("Not signed in")
            self.backend_failed.emit(message)
            return
        self.window.set_offline(message)
        self.window.set_status("Not connected to the companion service")
        self.backend_failed.emit(message)

    def _on_model_status_changed(self, connection_id: str, _old: str, new: str) -> None:
        item = self.model.get(connection_id)
        if new != "needs_reconnect" or item is None:
            self._sync_notice()
            return
        self._notice_for = connection_id
        said = f"{item.display_name}: {item.detail()}"
        self.notifier.notify(
            f"{item.provider_name} needs reconnecting",
            f"{said} Open Connected Accounts and choose Reconnect.",
            in_window=f"{said} Choose Reconnect on its row.",  # the user is in the app already
        )

    def _sync_notice(self, *_: object) -> None:
        cause = self.model.get(self._notice_for) if self._notice_for else None
        if self._notice_for is not None and (cause is None or cause.status != "needs_reconnect"):
            self._notice_for = None
            self.window.notice_banner.hide()

    # -- live updates ---------------------------------------------------------------------------
    def _on_live_opened(self) -> None:
        """Re-read the list: what changed while the stream was closed was never announced."""
        client = self.client
        if client is None:
            return
        self._changes_while_reloading = []
        run_in_background(
            self,
            client.connections,
            success=self._while_attached(client, self._on_live_list_loaded),
            failure=self._while_attached(client, self._on_reload_failed),
        )

    def _on_live_list_loaded(self, items: list[Connection]) -> None:
        changes, self._changes_while_reloading = self._changes_while_reloading or [], None
        self._listed = True
        self.window.set_offline(None)
        self.model.set_connections(items)
        for change in changes:  # announced while the list was read: whichever is newer wins
            self.model.apply_change(change)
        self.window.accounts.set_note("")
        self._save_list()
        self.list_reloaded.emit()

    def _on_reload_failed(self, error: Exception) -> None:
        self._changes_while_reloading = None
        self._on_backend_failed(error)

    def _on_live_event_received(self, event: dict[str, Any]) -> None:
        if event.get("kind") == "report_progress":  # no change of the connection itself
            percent = event.get("percent")
            if isinstance(percent, int):
                connection_id = str(event.get("connection_id") or "")
                self.window.report_progress(connection_id, percent, str(event.get("status")))
            return
        connection = Connection.from_api(event["connection"])
        if self._changes_while_reloading is not None:
            self._changes_while_reloading.append(connection)
        outcome = self.model.apply_change(connection)
        if outcome is None:
            return
        connection_id = connection.id
        if outcome == "removed" and self.cache is not None:
            cache = self.cache
            run_in_background(self, lambda: cache.forget(connection_id), success=lambda _: None)
        self.window.accounts.set_note("")
        self._save_list()
        self.live_change_applied.emit(str(event.get("kind", "")), connection_id)

    def _on_live_lost(self, why: str, retry_in: float, failures: int) -> None:
        if failures >= 2:  # one drop is routine (a token renewal, a service restart)
            self.window.set_status(
                f"Live updates paused: {why} Trying again in {max(1, round(retry_in))} s."
            )

    # -- connect and disconnect ----------------------------------------------------------------
    def _on_window_connect_requested(self) -> None:
        self.open_connect(None)

    def _on_accounts_reconnect_requested(self, connection_id: str) -> None:
        item = self.model.get(connection_id)
        self.open_connect(item.provider if item else None)

    def open_connect(self, provider: str | None) -> ConnectDialog | None:
        client = self.client
        if client is None:
            self.window.set_offline("Not connected to the companion service yet.")
            return None
        from desktop.connect.flow import run_connect
        from desktop.views.connect_dialog import ConnectDialog

        def connect(
            provider_id: str, open_browser: Callable[[str], object], cancel: threading.Event
        ) -> Connection:
            return run_connect(client, provider_id, open_browser=open_browser, cancel=cancel)

        dialog = ConnectDialog(
            client.providers, connect, provider=provider, open_url=self.open_url, parent=self.window
        )
        dialog.connection_added.connect(self._on_dialog_connection_added)
        dialog.finished.connect(lambda _result: self._forget_dialog(dialog))
        self.dialog = dialog
        dialog.open()
        return dialog

    def _on_dialog_connection_added(self, connection: Connection) -> None:
        item = self.model.upsert(connection)
        self.window.set_status(f"Connected {item.display_name} ({item.provider_name}).")
        self.window.accounts.set_note("")
        self._save_list()

    def _on_accounts_disconnect_requested(self, connection_id: str) -> DisconnectDialog | None:
        client, item = self.client, self.model.get(connection_id)
        if client is None or item is None:
            return None
        from desktop.views.disconnect_dialog import DisconnectDialog

        dialog = DisconnectDialog(
            item, lambda forget: client.disconnect(connection_id, forget=forget), self.window
        )
        dialog.disconnected.connect(self._on_dialog_disconnected)
        dialog.finished.connect(lambda _result: self._forget_dialog(dialog))
        self.dialog = dialog
        dialog.open()
        return dialog

    def _on_dialog_disconnected(self, connection_id: str, pending: bool) -> None:
        if pending:
            self.check(connection_id)
            return
        self.model.remove(connection_id)
        if self.cache is not None:
            cache = self.cache
            run_in_background(self, lambda: cache.forget(connection_id), success=lambda _: None)

    def _forget_dialog(self, dialog: QObject) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()

    # -- reports ------------------------------------------------------------------------------
    def _fetch_report(
        self,
        connection_id: str,
        query: ReportQuery,
        cancel: threading.Event,
    ) -> bytes:
        client = self.client
        if client is None:
            raise ApiError("network", "Not connected to the companion service.")
        return client.report_bytes(connection_id, cancel=cancel, **query.client_kwargs())


def _open_in_browser(url: str) -> object:
    from desktop.views.connect_dialog import open_in_browser

    return open_in_browser(url)
