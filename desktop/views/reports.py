"""The Reports view: pick a connection, accounts, range and options; table, totals, chart, CSV."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop.cli.report import default_file_name
from desktop.concurrency.after_paint import after_next_paint
from desktop.concurrency.columnar import Decoded
from desktop.concurrency.tasks import run_in_background
from desktop.models.cache import Cache
from desktop.models.connections import Connection, ConnectionsModel
from desktop.models.report_loader import ReportLoader, ReportOp
from desktop.models.report_query import ReportQuery
from desktop.views.empty_state import NO_REPORTS_YET, empty_or_content
from desktop.views.errors import describe_error
from desktop.views.report_chart import ReportChart
from desktop.views.report_export import csv_job
from desktop.views.report_options import ReportOptions
from desktop.views.report_pickers import ConnectionPicker, RangeRow
from desktop.views.report_status import StatusRow, filter_edit, status_words
from desktop.views.report_summary import ReportSummary
from desktop.views.report_table import ReportTable
from desktop.views.widgets import Banner, PlainLabel

log = logging.getLogger(__name__)

__all__ = ["ReportOp", "ReportsView"]


class ReportsView(QWidget):
    """Asks its ReportLoader (desktop/models/report_loader.py) for reports and renders them."""

    report_loaded = Signal(str)
    """A fresh report is on screen: (connection id)."""
    report_failed = Signal(str)
    """Loading failed; the message in words: (message)."""
    export_finished = Signal(str)
    """A CSV file was written: (path)."""
    connect_requested = Signal()
    """The empty state's "Connect an ad account" was clicked."""

    def __init__(
        self,
        connections: ConnectionsModel,
        fetch: ReportOp | None = None,
        cache: Cache | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.connections = connections
        # Decoding is CPU work: the busy state paints first, without competing for the GIL.
        self.loader = ReportLoader(
            fetch, cache, self, start=self._after_paint, save_start=self._after_table_paint
        )
        self.loader.fetched.connect(self._on_report_fetched)
        self.loader.fetch_failed.connect(self._on_report_failed)
        self.cached = False
        self.shown_key: str | None = None  # the query of the report on screen, if known
        self.stale = False  # the choices changed since the report on screen was loaded
        self._autoload: str | None = None  # connection whose report loads once none is found

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(10)
        title = PlainLabel("Reports")
        title.setObjectName("pageTitle")
        layout.addWidget(title)
        # No connection yet: no pickers, no empty axes; one way forward instead.
        self.empty, self.content, layout = empty_or_content(layout, NO_REPORTS_YET)
        self.empty.action_requested.connect(self.connect_requested)
        self.pickers = ConnectionPicker(connections)
        self.connection_box = self.pickers.connection_box
        self.account_box = self.pickers.account_box
        self.connection_box.currentIndexChanged.connect(self._on_connection_box_changed)
        self.account_box.currentIndexChanged.connect(self._on_options_changed)
        layout.addWidget(self.pickers)
        dates = RangeRow(self.load, self._on_export)
        self.dates, self.load_button, self.export_button = dates.dates, dates.load, dates.export
        self.preset_box = self.dates.preset_box
        self.since_edit, self.until_edit = self.dates.since_edit, self.dates.until_edit
        for edit in (self.since_edit, self.until_edit):
            edit.dateChanged.connect(self._on_options_changed)
        layout.addWidget(dates)
        self.options = ReportOptions()
        self.level_box = self.options.level_box
        self.metric_actions = self.options.metric_actions
        self.options.changed.connect(self._on_options_changed)
        layout.addWidget(self.options)

        self.error_banner = Banner(kind="error")
        self.error_banner.hide()
        layout.addWidget(self.error_banner)

        self.status_row = StatusRow()
        self.status_label, self.cancel_button = self.status_row.label, self.status_row.cancel_button
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        layout.addWidget(self.status_row)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        self.table = ReportTable()
        for key, action in self.metric_actions.items():
            action.toggled.connect(lambda on, k=key: self.table.set_column_visible(k, on))
        self.filter_edit = filter_edit()
        self.filter_edit.textChanged.connect(self._on_filter_changed)
        layout.addWidget(self.filter_edit)
        self.summary = ReportSummary()
        layout.addWidget(self.summary)
        self.chart = ReportChart(start=self._after_table_paint)
        for index, (part, stretch) in enumerate(((self.table, 3), (self.chart, 2))):
            splitter.addWidget(part)
            splitter.setStretchFactor(index, stretch)
        layout.addWidget(splitter, 1)

        connections.modelReset.connect(self._fill_connections)
        connections.rowsInserted.connect(self._fill_connections)
        connections.rowsRemoved.connect(self._fill_connections)
        self._clock = QTimer(self, interval=30_000)
        self._clock.timeout.connect(self._update_status)
        self._clock.start()
        self._fill_connections()

    # -- pickers ----------------------------------------------------------------------------
    def _fill_connections(self, *_: object) -> None:
        changed = self.pickers.fill_connections()
        self.empty.setVisible(not self.connection_box.count())
        self.content.setVisible(not self.empty.isVisibleTo(self))
        if changed:
            self._on_connection_box_changed()
        else:
            self._fill_accounts()

    def selected_connection(self) -> Connection | None:
        return self.pickers.selected_connection()

    def _fill_accounts(self) -> None:
        self.pickers.fill_accounts()
        self.load_button.setEnabled(
            self.selected_connection() is not None and self.fetch is not None
        )

    def show_connection(self, connection_id: str) -> None:
        """Select `connection_id` and show its last report, or load one when there is none."""
        index = self.connection_box.findData(connection_id)
        if index < 0:
            return
        self._autoload = connection_id
        if index == self.connection_box.currentIndex():
            self._on_connection_box_changed()
        else:
            self.connection_box.setCurrentIndex(index)

    def _on_connection_box_changed(self, *_: object) -> None:
        self._fill_accounts()
        item = self.selected_connection()
        if item is None:
            self._show(None, cached=False)
            return
        last = self.loader.last(item.id)
        if last is not None:
            self._autoload = None
            self._show(last[1], cached=False, key=last[0])
            return
        # No cache: the loader answers (None, None) at once, and the view shows nothing yet.
        connection_id = item.id
        self.loader.load_cached(
            connection_id,
            self.query().key(),
            lambda key, report: self._on_cache_loaded(connection_id, key, report),
            or_newest=True,
        )

    def _on_cache_loaded(self, connection_id: str, key: str | None, report: Decoded | None) -> None:
        selected = self.selected_connection()
        if selected is None or selected.id != connection_id:
            return
        if self.loader.last(connection_id) is not None:
            return  # fetched meanwhile: the fresh one is on screen
        self._show(report, cached=report is not None, key=key)
        if report is None:
            self._load_if_asked(connection_id)

    def _load_if_asked(self, connection_id: str) -> None:
        # "View reports" on a connection with no report yet: fetch one with the current choices.
        if self._autoload == connection_id and self.fetch is not None and not self.loading:
            self._autoload = None
            self.load()

    def date_range(self) -> tuple[date, date]:
        return self.dates.date_range()

    def query(self) -> ReportQuery:
        """The report the current choices ask for."""
        since, until = self.date_range()
        accounts, every = self.pickers.accounts()
        return ReportQuery(
            since=since, until=until, accounts=accounts, all_accounts=every, **self.options.fields()
        )

    def _on_options_changed(self, *_: object) -> None:
        """A choice changed: show this query's cached report if there is one, else mark the
        table stale (its figures answer the previous choices) until Load report."""
        item = self.selected_connection()
        if item is None or self.table.model.report is None:
            return
        key = self.query().key()
        if key == self.shown_key:
            self.stale = False
            self._update_status()
            return
        self.stale = True
        self._update_status()
        if self.loader.cache is not None and not self.loading:
            connection_id = item.id
            self.loader.load_cached(
                connection_id,
                key,
                lambda _key, report: self._on_query_cached(connection_id, key, report),
                or_newest=False,
            )

    def _on_query_cached(self, connection_id: str, key: str, report: Decoded | None) -> None:
        selected = self.selected_connection()
        if report is None or selected is None or selected.id != connection_id:
            return
        if self.loading or self.query().key() != key:
            return  # the choices moved on meanwhile
        self._show(report, cached=True, key=key)

    def _on_filter_changed(self, text: str) -> None:
        self.table.set_filter(text)
        self._update_status()

    # -- loading ----------------------------------------------------------------------------
    @property
    def fetch(self) -> ReportOp | None:
        return self.loader.fetch

    @fetch.setter
    def fetch(self, fetch: ReportOp | None) -> None:
        self.loader.fetch = fetch

    @property
    def cache(self) -> Cache | None:
        return self.loader.cache

    @cache.setter
    def cache(self, cache: Cache | None) -> None:
        self.loader.cache = cache

    def load(self) -> None:
        """Fetch the report for the current choices (cancels one still loading)."""
        item = self.selected_connection()
        if item is None or self.fetch is None:
            return
        since, until = self.date_range()
        if since > until:
            self._fail("The start date is after the end date. Pick an earlier start date.")
            return
        self.error_banner.hide()
        self._busy(True)
        self.status_label.setText(f"Loading {since:%d %b} – {until:%d %b %Y}…")
        self.loader.load(item.id, self.query())

    def _on_report_fetched(self, connection_id: str, key: str) -> None:
        self._busy(False)
        selected = self.selected_connection()
        last = self.loader.last(connection_id)
        if last is not None and selected is not None and selected.id == connection_id:
            self._show(last[1], cached=False, key=key)
        self.report_loaded.emit(connection_id)

    def _after_paint(self, go: Callable[[], None]) -> None:
        after_next_paint(self.window(), go)

    def _after_table_paint(self, go: Callable[[], None]) -> None:
        """Once the rows have painted: the table lays out a new report one pass after the
        window's first paint, and a worker running beside that paint slows it down."""
        after_next_paint(self.table.table.viewport(), go)

    def _on_report_failed(self, error: Exception) -> None:
        self._busy(False)
        self._fail(describe_error(error))

    def _fail(self, message: str) -> None:
        extra = " The last report stays on screen." if self.table.model.report else ""
        self.error_banner.set_text(message + extra)
        self.error_banner.show()
        self._update_status()
        self.report_failed.emit(message)

    def show_progress(self, connection_id: str, percent: int, status: str) -> None:
        """A `report_progress` event: the provider prepares the report being loaded."""
        if connection_id != self.loader.loading_for:
            return  # another connection's report, or one this view no longer waits for
        self.status_row.set_progress(percent, status)

    def _on_cancel_clicked(self) -> None:
        self.loader.cancel()
        self._busy(False)
        self._update_status()

    def _busy(self, busy: bool) -> None:
        self.status_row.set_busy(busy)
        self.load_button.setEnabled(not busy)

    @property
    def loading(self) -> bool:
        return self.loader.loading

    @property
    def settled(self) -> bool:
        """Nothing left to do for the report on screen: fetched, charted, saved."""
        return not self.loader.loading and not self.chart.busy and not self.loader.saving

    # -- showing ----------------------------------------------------------------------------
    def _show(self, report: Decoded | None, *, cached: bool, key: str | None = None) -> None:
        self.cached = cached
        self.shown_key = key
        self.stale = key is not None and key != self.query().key()
        self.table.set_report(report)
        self.summary.set_report(report[0] if report is not None else None)
        hidden = {k for k, a in self.metric_actions.items() if not a.isChecked()}
        self.table.set_hidden_keys(hidden)
        self.chart.set_report(report)
        self.export_button.setEnabled(report is not None)
        self._update_status()

    def _update_status(self) -> None:
        if self.loading:
            return
        words = status_words(self.table, stale=self.stale, cached=self.cached)
        if words is not None:
            self.status_label.setText(words)

    # -- export -----------------------------------------------------------------------------
    def _on_export(self) -> None:
        if self.table.model.report is None:
            return
        suggested = self.suggested_file_name()
        path, _ = QFileDialog.getSaveFileName(
            self, "Export report as CSV", str(Path.home() / suggested), "CSV files (*.csv)"
        )
        if path:
            self.export_to(Path(path))

    def suggested_file_name(self) -> str:
        """`report-{account}-{since}-{until}.csv`, as the command line names it."""
        report = self.table.model.report
        return default_file_name(report, "csv") if report is not None else "report.csv"

    def export_to(self, path: Path) -> None:
        """Write the rows the filter shows, in the view's order, in the one CSV format the
        command line writes (desktop/cli/report.py), off the UI thread."""
        report = self.table.model.report
        if report is None:
            return
        write = csv_job(self.table, path)
        self.status_label.setText(f"Writing {path.name}…")
        run_in_background(
            self,
            write,
            success=lambda _count: self._on_export_written(path),
            failure=lambda error: self._fail(
                f"Could not write {path.name}. {describe_error(error)}"
            ),
        )

    def _on_export_written(self, path: Path) -> None:
        self._update_status()
        self.export_finished.emit(str(path))

    def set_today(self, today: Callable[[], date]) -> None:
        """Tests pin the calendar; presets are computed from `today()`."""
        self.dates.set_today(today)
