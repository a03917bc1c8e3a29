"""Tells the person, once per connection and lapse date, when a grant enters its last 14
days: a desktop notification over D-Bus, else the tray, else the in-window banner."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from PySide6.QtCore import QObject, Signal

from desktop.app.notify import Notifier
from desktop.concurrency.tasks import run_in_background
from desktop.models.cache import Cache
from desktop.models.connection import Connection


def _send_notification(title: str, message: str) -> int:
    """desktop_notify.send_notification, imported on the worker that sends (not before the
    window's first paint)."""
    from desktop.app.desktop_notify import send_notification

    return send_notification(title, message)


def _unavailable() -> type[Exception]:
    from desktop.app.desktop_notify import NotificationUnavailable

    return NotificationUnavailable


@dataclass(frozen=True)
class Notice:
    key: str
    title: str
    message: str


class ExpiryWatcher(QObject):
    """`check(connections)` on the UI thread; the cache and D-Bus are touched on a worker."""

    sent = Signal(str, str, str)
    """A notice went out: (title, message, how: "dbus", "tray" or "window")."""

    def __init__(
        self,
        fallback: Notifier,
        cache: Callable[[], Cache | None],
        parent: QObject | None = None,
        *,
        send: Callable[[str, str], int] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(parent)
        self._fallback = fallback
        self._cache = cache
        self._send = send or _send_notification
        self.now = now
        # Keys claimed in this process: without a cache (or before it answers) a lapse is
        # still announced once, and a quick second check does not race the first.
        self._claimed: set[str] = set()

    def check(self, connections: Sequence[Connection]) -> None:
        notices = [n for c in connections if (n := self._notice(c)) is not None]
        notices = [n for n in notices if n.key not in self._claimed]
        if not notices:
            return
        self._claimed.update(n.key for n in notices)
        cache, send = self._cache(), self._send

        def deliver() -> list[tuple[Notice, bool]]:
            out = []
            for notice in notices:
                if cache is not None and not cache.claim_notice(notice.key):
                    continue  # announced before, by this window or an earlier one
                try:
                    send(notice.title, notice.message)
                    out.append((notice, True))
                except _unavailable():
                    out.append((notice, False))
            return out

        run_in_background(self, deliver, success=self._delivered, failure=lambda _: None)

    def _delivered(self, results: list[tuple[Notice, bool]]) -> None:
        for notice, by_dbus in results:
            if by_dbus:
                self.sent.emit(notice.title, notice.message, "dbus")
                continue
            how = "tray" if self._fallback.uses_tray else "window"
            self._fallback.notify(notice.title, notice.message)  # tray, else the banner
            self.sent.emit(notice.title, notice.message, how)

    def _notice(self, c: Connection) -> Notice | None:
        warning = c.expiry_warning(self.now())
        if warning is None or c.expires_at is None:
            return None
        key = f"expiry:{c.id}@{c.expires_at.astimezone(UTC).isoformat()}"
        title = f"{c.provider_name}: {c.display_name}"
        reason = f" {c.expiry_reason}" if c.expiry_reason else ""
        return Notice(key, title, f"{warning}.{reason}")
