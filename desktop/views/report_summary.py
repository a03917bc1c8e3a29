"""Under the table: each total's change against the comparison period, and totals per currency."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from desktop.models.report_summary import changes, compared_range, currency_totals
from desktop.views.widgets import PlainLabel


class ReportSummary(QWidget):
    """Hidden when the report has neither a comparison nor several currencies."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.changes_label = PlainLabel()
        self.changes_label.setTextFormat(Qt.TextFormat.RichText)
        self.changes_label.setWordWrap(True)
        self.changes_label.setAccessibleName("Change against the comparison period")
        self.currencies_label = PlainLabel()
        self.currencies_label.setWordWrap(True)
        self.currencies_label.setAccessibleName("Totals per currency")
        layout.addWidget(self.changes_label)
        layout.addWidget(self.currencies_label)
        self.set_report(None)

    def set_report(self, report: dict[str, Any] | None) -> None:
        self.changes = changes(report)
        parts = [
            # No-break spaces: an arrow, its sign and its "%" never wrap apart.
            _nobreak(f"{html.escape(c.label)} <span style='color:{c.colour}'>")
            + _nobreak(f"{html.escape(c.text)}</span>")
            for c in self.changes
        ]
        words = compared_range(report)
        self.changes_label.setText(f"{html.escape(words)}: " + " · ".join(parts) if parts else "")
        self.changes_label.setVisible(bool(parts))
        lines = currency_totals(report)
        self.currencies_label.setText("Totals per currency — " + "; ".join(lines) if lines else "")
        self.currencies_label.setVisible(bool(lines))
        self.setVisible(bool(parts or lines))


def _nobreak(text: str) -> str:
    return (
        text.replace(" %", "&nbsp;%")
        .replace("▲ ", "▲&nbsp;")
        .replace("▼ ", "▼&nbsp;")
        .replace("■ ", "■&nbsp;")
    )
