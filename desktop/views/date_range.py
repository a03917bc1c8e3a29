"""Date range: presets (Last 7 days … Last month) and a custom From/To pair."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from PySide6.QtCore import QDate
from PySide6.QtWidgets import QComboBox, QDateEdit, QHBoxLayout, QWidget

from desktop.models.dates import CUSTOM, PRESETS, preset_range
from desktop.views.widgets import PlainLabel


class DateRangePicker(QWidget):
    """A preset box and two date edits; editing a date by hand makes the range custom."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._today: Callable[[], date] = date.today
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        self.preset_box = QComboBox()
        self.preset_box.setAccessibleName("Date range")
        self.preset_box.addItems([*PRESETS, CUSTOM])
        self.preset_box.setCurrentIndex(1)
        self.preset_box.currentIndexChanged.connect(self._on_preset_box_changed)
        self.since_edit = QDateEdit()
        self.until_edit = QDateEdit()
        for edit, name in ((self.since_edit, "From date"), (self.until_edit, "To date")):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setAccessibleName(name)
            edit.userDateChanged.connect(self._on_date_edit_changed)
        caption = PlainLabel("Dates")
        caption.setBuddy(self.preset_box)
        row.addWidget(caption)
        row.addWidget(self.preset_box)
        row.addWidget(self.since_edit)
        row.addWidget(PlainLabel("to"))
        row.addWidget(self.until_edit)
        self._on_preset_box_changed()

    def _on_preset_box_changed(self, *_: object) -> None:
        name = self.preset_box.currentText()
        if name == CUSTOM:
            return
        since, until = preset_range(name, self._today())
        for edit, day in ((self.since_edit, since), (self.until_edit, until)):
            edit.blockSignals(True)
            edit.setDate(QDate(day.year, day.month, day.day))
            edit.blockSignals(False)

    def _on_date_edit_changed(self, *_: object) -> None:
        self.preset_box.blockSignals(True)
        self.preset_box.setCurrentText(CUSTOM)
        self.preset_box.blockSignals(False)

    def date_range(self) -> tuple[date, date]:
        since = self.since_edit.date().toPython()
        until = self.until_edit.date().toPython()
        assert isinstance(since, date)
        assert isinstance(until, date)
        return since, until

    def set_today(self, today: Callable[[], date]) -> None:
        """Tests pin the calendar; presets are computed from `today()`."""
        self._today = today
        self._on_preset_box_changed()
