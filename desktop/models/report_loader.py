"""Fetches, decodes, caches and keeps the reports of the Reports view, off the UI thread.

A report arrives as the backend's JSON bytes (ApiClient.report_bytes). A worker decodes them
straight into typed columns (desktop/concurrency/columnar.py), 64 KB at a time, so the UI
thread never waits on the GIL for long; the same bytes go to the cache as they came, and a
cached report is decoded the same way. A replaced report is a few numpy arrays and one list of
distinct strings: dropping it costs the UI thread next to nothing.
The view (desktop/views/reports.py) only asks and renders.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from desktop.concurrency import columnar
from desktop.concurrency.columnar import Decoded
from desktop.concurrency.tasks import Task, run_in_background

if TYPE_CHECKING:
    from desktop.models.cache import Cache
    from desktop.models.report_query import ReportQuery

log = logging.getLogger(__name__)

ReportOp = Callable[[str, "ReportQuery", threading.Event], bytes]
"""Fetches (connection id, query, cancel) -> the report's JSON as the backend sent it."""

Start = Callable[[Callable[[], None]], None]
"""When to put a fetch on the pool (desktop.concurrency.tasks.run_in_background's `start`)."""


class ReportLoader(QObject):
    """The last report per connection this session, and the one being fetched."""

    fetched = Signal(str, str)
    """A fresh report was fetched and decoded: (connection id, query key); see `last`."""
    fetch_failed = Signal(object)
    """Fetching or decoding failed: (the exception)."""

    def __init__(
        self,
        fetch: ReportOp | None,
        cache: Cache | None,
        parent: QObject | None = None,
        *,
        start: Start | None = None,
        save_start: Start | None = None,
    ) -> None:
        """`start`: when a fetch goes on the pool; `save_start`: when the cache write does
        (once the new report has painted: a worker beside that paint slows it down)."""
        super().__init__(parent)
        self.fetch = fetch
        self.cache = cache
        self._start = start
        self._save_start = save_start
        self._reports: dict[str, tuple[str | None, Decoded]] = {}
        self._task: Task[tuple[bytes, Decoded]] | None = None
        self._saving: Task[None] | None = None
        self.loading_for: str | None = None  # the connection whose report is being fetched

    @property
    def loading(self) -> bool:
        return self._task is not None

    @property
    def saving(self) -> bool:
        return self._saving is not None

    def last(self, connection_id: str) -> tuple[str | None, Decoded] | None:
        """(query key, report) fetched last for `connection_id` this session."""
        return self._reports.get(connection_id)

    # -- fetching ---------------------------------------------------------------------------
    def load(self, connection_id: str, query: ReportQuery) -> None:
        """Fetch `query`'s report (cancels one still loading); `fetched` or `fetch_failed`."""
        fetch = self.fetch
        if fetch is None:
            return
        self.cancel()
        cancel, key = threading.Event(), query.key()

        def fetch_and_decode() -> tuple[bytes, Decoded]:
            body = fetch(connection_id, query, cancel)
            return body, _decode(body)

        self.loading_for = connection_id
        self._task = run_in_background(
            self,
            fetch_and_decode,
            success=lambda got: self._on_fetched(connection_id, key, *got),
            failure=self._on_failed,
            cancel=cancel,
            start=self._start,
        )

    def cancel(self) -> None:
        """Stop waiting for the report being fetched (its request is hung up)."""
        if self._task is not None:
            self._task.cancel()
        self._task, self.loading_for = None, None

    def _on_fetched(self, connection_id: str, key: str, body: bytes, report: Decoded) -> None:
        self._task, self.loading_for = None, None
        self._reports[connection_id] = (key, report)
        self._save(connection_id, key, body)
        self.fetched.emit(connection_id, key)

    def _on_failed(self, error: Exception) -> None:
        self._task, self.loading_for = None, None
        self.fetch_failed.emit(error)

    def _save(self, connection_id: str, key: str, body: bytes) -> None:
        cache = self.cache
        if cache is None:
            return
        if self._saving is not None:
            self._saving.cancel()  # an older report need not be saved now: this one replaces it
        self._saving = run_in_background(
            self,
            lambda: cache.save_report_bytes(connection_id, body, key),
            success=self._on_saved,
            failure=self._on_saved,
            start=self._save_start,
        )

    def _on_saved(self, result: object) -> None:
        self._saving = None
        if isinstance(result, Exception):  # the report stays on screen; only next start loses it
            log.warning("The report could not be cached: %s", type(result).__name__)

    # -- the cache --------------------------------------------------------------------------
    def load_cached(
        self,
        connection_id: str,
        key: str,
        then: Callable[[str | None, Decoded | None], None],
        *,
        or_newest: bool,
    ) -> None:
        """Read and decode the cached report for `key` (or_newest: else the connection's newest)
        on a worker; `then(its key, report)` on the UI thread, (None, None) when there is none.
        An unreadable cache entry counts as none."""
        cache = self.cache
        if cache is None:
            then(None, None)
            return

        def read() -> tuple[str | None, Decoded | None]:
            if or_newest:
                found, body = cache.load_report_bytes_or_newest(connection_id, key)
            else:
                found, body = key, cache.load_report_bytes(connection_id, key)
            return (found, _decode(body)) if body is not None else (None, None)

        def unreadable(error: Exception) -> None:
            log.warning("A cached report could not be read: %s", type(error).__name__)
            then(None, None)

        run_in_background(self, read, success=lambda found: then(*found), failure=unreadable)


def _decode(body: bytes) -> Decoded:
    from desktop.api.errors import ApiError

    try:
        return columnar.decode(body)
    except (ValueError, RecursionError):
        raise ApiError("bad_response", "The backend sent a report this app cannot read.") from None
