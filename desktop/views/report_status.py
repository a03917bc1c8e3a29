"""The Reports window's status line (progress bar, Cancel), its words, the filter box and
its buttons."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QToolButton,
    QWidget,
)

from desktop.models.format import relative_time
from desktop.views.report_table import ReportTable
from desktop.views.widgets import PlainLabel


class StatusRow(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        status = QHBoxLayout(self)
        status.setContentsMargins(0, 0, 0, 0)
        self.label = PlainLabel("Choose a connection and a date range, then Load.")
        self.label.setObjectName("rowMeta")
        status.addWidget(self.label, 1)
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
        self.cancel_button.hide()
        status.addWidget(self.cancel_button)
        # Showing or hiding the progress and Cancel must not move the table: a re-layout then
        # resizes and repaints table and chart while the report is being decoded or summed.
        for widget in (self.progress, self.cancel_button):
            policy = widget.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            widget.setSizePolicy(policy)

    def set_busy(self, busy: bool) -> None:
        self.progress.setRange(0, 0)  # busy, until the provider says how far it is
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)

    def set_progress(self, percent: int, status: str) -> None:
        """How far the provider is with the report (its async run), 0-100."""
        self.progress.setRange(0, 100)
        self.progress.setValue(max(0, min(100, percent)))
        words = "queued at the provider" if status == "queued" else f"{percent} % prepared"
        self.progress.setAccessibleDescription(words)
        self.label.setText(f"Loading the report: {words}…")


def status_words(table: ReportTable, *, stale: bool, cached: bool) -> str | None:
    """The status line for the report on screen (None: leave it as it is)."""
    model = table.model
    if model.report is None:
        return "No report yet. Choose a date range, then Load report."
    header = model.header
    if header is None:
        return None
    several = len(model.report.get("accounts") or []) > 1
    who = "All accounts" if several else header.account.name
    rows = f"{model.rowCount():,} rows"
    if table.shown_rows() != model.rowCount():
        rows = f"{table.shown_rows():,} of {model.rowCount():,} rows"
    words = (
        f"{who} · {header.since} to {header.until} · {rows} · "
        f"Updated {relative_time(model.fetched_at)}"
    )
    if stale:
        return words + " · Options changed — Load report for these figures"
    if cached:
        return words + " (cached — Load report for fresh figures)"
    return words


def filter_edit() -> QLineEdit:
    """The filter box over the rows (desktop/models/row_filter.py)."""
    edit = QLineEdit()
    edit.setPlaceholderText("Filter rows by campaign, ad set, ad or breakdown")
    edit.setAccessibleName("Filter the rows")
    edit.setClearButtonEnabled(True)
    for clear in edit.findChildren(QToolButton):
        clear.setAccessibleName("Clear the filter")
    return edit


def button(text: str, name: str, clicked: Callable[[], None], primary: bool = False) -> QPushButton:
    push = QPushButton(text)
    push.setAccessibleName(name)
    if primary:
        push.setObjectName("primary")
    push.clicked.connect(clicked)
    return push
