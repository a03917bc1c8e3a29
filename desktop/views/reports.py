"""The Reports view: pick a connection, accounts, range and options; table, totals, chart, CSV."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator
from datetime import date
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop import sliced_json
from desktop.cache import Cache
from desktop.cli_report import default_file_name, report_csv
from desktop.models.connections import Connection, ConnectionsModel
from desktop.models.format import relative_time
from desktop.models.report_query import ALL_ACCOUNTS, ReportQuery
from desktop.tasks import Task, run_in_background, run_in_steps
from desktop.views.date_range import DateRangePicker
from desktop.views.errors import describe_error
from desktop.views.paint import after_next_paint
from desktop.views.report_chart import ReportChart
from desktop.views.report_options import ReportOptions
from desktop.views.report_summary import ReportSummary
from desktop.views.report_table import ReportTable
from desktop.views.widgets import Banner

log = logging.getLogger(__name__)

ReportOp = Callable[[str, ReportQuery, threading.Event], dict[str, Any]]
"""Fetches (connection id, query, cancel) -> the API's report."""


class ReportsView(QWidget):
    """Loads reports through `fetch` (off the UI thread) and keeps the last one per connection."""

    report_loaded = Signal(str)
    """A fresh report is on screen: (connection id)."""
    report_failed = Signal(str)
    """Loading failed; the message in words: (message)."""
    export_finished = Signal(str)
    """A CSV file was written: (path)."""

    def __init__(
        self,
        connections: ConnectionsModel,
        fetch: ReportOp | None = None,
        cache: Cache | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.connections = connections
        self.fetch = fetch
        self.cache = cache
        self.cached = False
        self._task: Task[dict[str, Any]] | None = None
        self._reports: dict[str, dict[str, Any]] = {}  # last report per connection this session
        self._keys: dict[str, str] = {}  # the query key of each of those reports
        self.shown_key: str | None = None  # the query of the report on screen, if known
        self.stale = False  # the choices changed since the report on screen was loaded
        self._autoload: str | None = None  # connection whose report loads once none is found
        self._saving: Task[Any] | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(10)
        title = QLabel("Reports")
        title.setObjectName("pageTitle")
        layout.addWidget(title)
        layout.addLayout(self._build_pickers())
        layout.addLayout(self._build_range())
        self.options = ReportOptions()
        self.level_box = self.options.level_box
        self.metric_actions = self.options.metric_actions
        self.options.changed.connect(self._on_options_changed)
        layout.addWidget(self.options)

        self.error_banner = Banner(kind="error")
        self.error_banner.hide()
        layout.addWidget(self.error_banner)

        status = QHBoxLayout()
        self.status_label = QLabel("Choose a connection and a date range, then Load.")
        self.status_label.setObjectName("rowMeta")
        status.addWidget(self.status_label, 1)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(160)
        self.progress.setMaximumHeight(8)
        self.progress.setTextVisible(False)
        self.progress.setAccessibleName("Loading the report")
        self.progress.hide()
        status.addWidget(self.progress)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel loading the report")
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.cancel_button.hide()
        status.addWidget(self.cancel_button)
        # Showing or hiding the progress and Cancel must not move the table: a re-layout then
        # resizes and repaints table and chart while the report is being decoded or summed.
        for widget in (self.progress, self.cancel_button):
            policy = widget.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            widget.setSizePolicy(policy)
        layout.addLayout(status)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        self.table = ReportTable()
        for key, action in self.metric_actions.items():
            action.toggled.connect(lambda on, k=key: self.table.set_column_visible(k, on))
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter rows by campaign, ad set, ad or breakdown")
        self.filter_edit.setAccessibleName("Filter the rows")
        self.filter_edit.setClearButtonEnabled(True)
        for button in self.filter_edit.findChildren(QToolButton):
            button.setAccessibleName("Clear the filter")
        self.filter_edit.textChanged.connect(self._on_filter_changed)
        layout.addWidget(self.filter_edit)
        self.summary = ReportSummary()
        layout.addWidget(self.summary)
        self.chart = ReportChart()
        splitter.addWidget(self.table)
        splitter.addWidget(self.chart)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout.addWidget(splitter, 1)

        connections.modelReset.connect(self._fill_connections)
        connections.rowsInserted.connect(self._fill_connections)
        connections.rowsRemoved.connect(self._fill_connections)
        self._clock = QTimer(self)
        self._clock.setInterval(30_000)
        self._clock.timeout.connect(self._update_status)
        self._clock.start()
        self._fill_connections()

    # -- building ---------------------------------------------------------------------------
    def _build_pickers(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(8)
        self.connection_box = QComboBox()
        self.connection_box.setAccessibleName("Connection")
        self.connection_box.setMinimumWidth(220)
        self.connection_box.currentIndexChanged.connect(self._on_connection_box_changed)
        self.account_box = QComboBox()
        self.account_box.setAccessibleName("Ad account")
        self.account_box.setMinimumWidth(200)
        for label, widget in (
            ("Connection", self.connection_box),
            ("Ad account", self.account_box),
        ):
            caption = QLabel(label)
            caption.setBuddy(widget)
            row.addWidget(caption)
            row.addWidget(widget)
        row.addStretch(1)
        self.account_box.currentIndexChanged.connect(self._on_options_changed)
        return row

    def _build_range(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(8)
        self.dates = DateRangePicker()
        self.preset_box = self.dates.preset_box
        self.since_edit = self.dates.since_edit
        self.until_edit = self.dates.until_edit
        for edit in (self.since_edit, self.until_edit):
            edit.dateChanged.connect(self._on_options_changed)
        row.addWidget(self.dates)
        row.addStretch(1)
        self.load_button = QPushButton("Load report")
        self.load_button.setObjectName("primary")
        self.load_button.setAccessibleName("Load the report")
        self.load_button.clicked.connect(self.load)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setAccessibleName("Export the report as CSV")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._on_export_clicked)
        row.addWidget(self.load_button)
        row.addWidget(self.export_button)
        return row

    # -- pickers ----------------------------------------------------------------------------
    def _fill_connections(self, *_: object) -> None:
        current = self.connection_box.currentData()
        self.connection_box.blockSignals(True)
        self.connection_box.clear()
        for item in self.connections.items():
            self.connection_box.addItem(f"{item.display_name} — {item.provider_name}", item.id)
        index = self.connection_box.findData(current)
        self.connection_box.setCurrentIndex(max(index, 0) if self.connection_box.count() else -1)
        self.connection_box.blockSignals(False)
        if self.connection_box.currentData() != current:
            self._on_connection_box_changed()
        else:
            self._fill_accounts()

    def selected_connection(self) -> Connection | None:
        connection_id = self.connection_box.currentData()
        return self.connections.get(str(connection_id)) if connection_id else None

    def _fill_accounts(self) -> None:
        current = self.account_box.currentData()
        self.account_box.blockSignals(True)
        self.account_box.clear()
        item = self.selected_connection()
        for account in item.accounts if item else ():
            text = f"{account.name} ({account.currency})" if account.currency else account.name
            self.account_box.addItem(text, account.id)
        if item is not None and len(item.accounts) > 1:
            self.account_box.addItem("All accounts", ALL_ACCOUNTS)
        index = self.account_box.findData(current)
        if index >= 0:
            self.account_box.setCurrentIndex(index)
        self.account_box.blockSignals(False)
        self.load_button.setEnabled(item is not None and self.fetch is not None)

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
        if item.id in self._reports:
            self._autoload = None
            self._show(self._reports[item.id], cached=False, key=self._keys.get(item.id))
        elif self.cache is not None:
            cache, connection_id, key = self.cache, item.id, self.query().key()
            run_in_background(
                self,
                # This query's report if cached, else the connection's newest one.
                lambda: (
                    (key, cache.load_report(connection_id, key))
                    if cache.load_report(connection_id, key) is not None
                    else (None, cache.load_report(connection_id))
                ),
                success=lambda found: self._on_cache_loaded(connection_id, *found),
            )
        else:
            self._show(None, cached=False)
            self._load_if_asked(item.id)

    def _on_cache_loaded(
        self, connection_id: str, key: str | None, report: dict[str, Any] | None
    ) -> None:
        selected = self.selected_connection()
        if selected is None or selected.id != connection_id or connection_id in self._reports:
            return
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
        account = self.account_box.currentData()
        every = account == ALL_ACCOUNTS
        accounts = (str(account),) if account and not every else ()
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
        if self.cache is not None and not self.loading:
            cache, connection_id = self.cache, item.id
            run_in_background(
                self,
                lambda: cache.load_report(connection_id, key),
                success=lambda report: self._on_query_cached(connection_id, key, report),
            )

    def _on_query_cached(self, connection_id: str, key: str, report: dict[str, Any] | None) -> None:
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
    def load(self) -> None:
        """Fetch the report for the current choices (cancels one still loading)."""
        item = self.selected_connection()
        if item is None or self.fetch is None:
            return
        since, until = self.date_range()
        if since > until:
            self._fail("The start date is after the end date. Pick an earlier start date.")
            return
        if self._task is not None:
            self._task.cancel()
        query = self.query()
        fetch, connection_id, cancel = self.fetch, item.id, threading.Event()
        self.error_banner.hide()
        self._busy(True)
        self.status_label.setText(f"Loading {since:%d %b} – {until:%d %b %Y}…")
        self._task = run_in_background(
            self,
            lambda: fetch(connection_id, query, cancel),
            success=lambda report: self._on_report_fetched(connection_id, query.key(), report),
            failure=self._on_report_failed,
            cancel=cancel,
            # Decoding is CPU work: the busy state paints first, without competing for the GIL.
            start=self._after_paint,
        )

    def _on_report_fetched(self, connection_id: str, key: str, report: dict[str, Any]) -> None:
        self._task = None
        self._busy(False)
        replaced = [self._reports.get(connection_id)]
        self._reports[connection_id] = report
        self._keys[connection_id] = key
        selected = self.selected_connection()
        if selected is not None and selected.id == connection_id:
            replaced.append(self.table.model.report)
            self._show(report, cached=False, key=key)
        kept = [report, *self._reports.values()]
        for old in {id(r): r for r in replaced if r is not None}.values():
            if not any(old is r for r in kept):
                run_in_steps(self, _release_steps(old), success=lambda _: None)
        if self.cache is not None:
            # Encoding 100,000 rows is CPU work: in steps on the UI thread, between paints (see
            # ReportChart._redraw); the write, which lets go of the GIL, on a worker.
            cache = self.cache
            if self._saving is not None:
                self._saving.cancel()  # an older report of this view need not be saved now

            def write(body: str) -> None:
                self._saving = run_in_background(
                    self,
                    lambda: cache.save_report_text(connection_id, body, key),
                    success=self._on_report_saved,
                    failure=self._on_report_saved,
                )

            self._saving = run_in_steps(
                self, sliced_json.dumps_steps(report), success=write, failure=self._on_report_saved
            )
        self.report_loaded.emit(connection_id)

    def _on_report_saved(self, result: object) -> None:
        self._saving = None
        if isinstance(result, Exception):  # the report stays on screen; only next start loses it
            log.warning("The report could not be cached: %s", type(result).__name__)

    def _after_paint(self, go: Callable[[], None]) -> None:
        after_next_paint(self.window(), go)

    def _on_report_failed(self, error: Exception) -> None:
        self._task = None
        self._busy(False)
        self._fail(describe_error(error))

    def _fail(self, message: str) -> None:
        extra = " The last report stays on screen." if self.table.model.report else ""
        self.error_banner.set_text(message + extra)
        self.error_banner.show()
        self._update_status()
        self.report_failed.emit(message)

    def _on_cancel_clicked(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._busy(False)
        self._update_status()

    def _busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.load_button.setEnabled(not busy)

    @property
    def loading(self) -> bool:
        return self._task is not None

    @property
    def settled(self) -> bool:
        """Nothing left to do for the report on screen: fetched, charted and saved (or saving
        on the pool)."""
        return self._task is None and not self.chart.busy and self._saving is None

    # -- showing ----------------------------------------------------------------------------
    def _show(self, report: dict[str, Any] | None, *, cached: bool, key: str | None = None) -> None:
        self.cached = cached
        self.shown_key = key
        self.stale = key is not None and key != self.query().key()
        self.table.set_report(report)
        self.summary.set_report(report)
        hidden = {k for k, a in self.metric_actions.items() if not a.isChecked()}
        self.table.set_hidden_keys(hidden)
        self.chart.set_report(report)
        self.export_button.setEnabled(report is not None)
        self._update_status()

    def _update_status(self) -> None:
        if self.loading:
            return
        model = self.table.model
        if model.report is None:
            self.status_label.setText("No report yet. Choose a date range, then Load report.")
            return
        header = model.header
        if header is None:
            return
        several = len((model.report or {}).get("accounts") or []) > 1
        who = "All accounts" if several else header.account.name
        shown = self.table.shown_rows()
        rows = f"{model.rowCount():,} rows"
        if shown != model.rowCount():
            rows = f"{shown:,} of {model.rowCount():,} rows"
        words = (
            f"{who} · {header.since} to {header.until} · {rows} · "
            f"Updated {relative_time(model.fetched_at)}"
        )
        if self.stale:
            words += " · Options changed — Load report for these figures"
        elif self.cached:
            words += " (cached — Load report for fresh figures)"
        self.status_label.setText(words)

    # -- export -----------------------------------------------------------------------------
    def _on_export_clicked(self) -> None:
        model = self.table.model
        if model.report is None:
            return
        header = model.header
        if header is None:
            return
        suggested = default_file_name(model.report, "csv")
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
        command line writes (desktop/cli_report.py), off the UI thread."""
        report = self.table.model.report
        if report is None:
            return
        # A copy of the row list (not of the rows): a replaced report's list is emptied.
        source, order = self.table.model.snapshot()
        kept = self.table.source_rows()
        picked = [source[order[r] if order is not None else r] for r in kept]
        # Metrics unticked in the Metrics menu are left out, as `--metrics` leaves them out.
        hidden = self.table.hidden_keys()
        columns = list(report.get("columns") or [])
        keep = [i for i, c in enumerate(columns) if c.get("key") not in hidden]

        def write() -> int:
            rows = picked if len(keep) == len(columns) else [[r[i] for i in keep] for r in picked]
            snapshot = {**report, "columns": [columns[i] for i in keep], "rows": rows}
            # newline="" keeps the CSV writer's line ends as they are (RFC 4180 rows).
            with path.open("w", encoding="utf-8", newline="") as fh:
                fh.write(report_csv(snapshot))
            return len(picked)

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


RELEASE_ROWS_PER_STEP = 5000


def _release_steps(report: dict[str, Any]) -> Generator[None, None, None]:
    """Free a replaced report's rows a slice at a time: dropping 100,000 rows at once is one
    ~20 ms run of deallocations on the UI thread. Only the report's own "rows" list is emptied:
    the table model and an export work on the model's copy of it, and the steps that read this
    list (the chart's sums, the cache's encoding) were cancelled when the report was replaced;
    they check before each step, so none of them runs again."""
    rows = report.get("rows")
    del report
    while isinstance(rows, list) and rows:
        del rows[-RELEASE_ROWS_PER_STEP:]
        yield
