"""The report's options: level, breakdowns, daily or total, metrics and comparison.

Only widgets: the choices go into a `ReportQuery` (desktop/models/report_query.py), which the
view fetches, caches and describes.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QMenu, QToolButton, QWidget

from desktop.models.report_query import (
    BREAKDOWNS,
    COMPARES,
    DEFAULT_METRICS,
    LEVELS,
    METRICS,
    TIMES,
)
from desktop.views.widgets import PlainLabel


class ReportOptions(QWidget):
    """A row of selectors; `changed` fires on any choice."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        self.level_box = _combo("Level", LEVELS)
        self.time_box = _combo("Daily or total", TIMES)
        self.compare_box = _combo("Compare with", COMPARES)
        self.breakdown_button, self.breakdown_actions = self._menu_button(
            "Breakdowns", "Break the rows down by", BREAKDOWNS, ()
        )
        self.metrics_button, self.metric_actions = self._menu_button(
            "Metrics", "Choose the metrics", METRICS, DEFAULT_METRICS
        )
        for label, widget in (("Level", self.level_box), ("Time", self.time_box)):
            caption = PlainLabel(label)
            caption.setBuddy(widget)
            row.addWidget(caption)
            row.addWidget(widget)
        row.addWidget(self.breakdown_button)
        row.addWidget(self.metrics_button)
        caption = PlainLabel("Compare")
        caption.setBuddy(self.compare_box)
        row.addWidget(caption)
        row.addWidget(self.compare_box)
        row.addStretch(1)
        for box in (self.level_box, self.time_box, self.compare_box):
            box.currentIndexChanged.connect(self._changed)
        self._update_captions()

    def _menu_button(
        self, text: str, name: str, items: dict[str, str], checked: tuple[str, ...]
    ) -> tuple[QToolButton, dict[str, QAction]]:
        button = QToolButton()
        button.setText(text)
        button.setAccessibleName(name)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(button)
        actions: dict[str, QAction] = {}
        for key, label in items.items():
            action = menu.addAction(label)
            action.setCheckable(True)
            action.setChecked(key in checked)
            action.toggled.connect(self._changed)
            actions[key] = action
        button.setMenu(menu)
        return button, actions

    def _changed(self, *_: object) -> None:
        self._update_captions()
        self.changed.emit()

    def _update_captions(self) -> None:
        # The button says what is chosen, so the choice is on screen without opening the menu.
        chosen = [BREAKDOWNS[k] for k in self.breakdowns()]
        self.breakdown_button.setText("By " + ", ".join(chosen) if chosen else "No breakdown")
        self.metrics_button.setText(f"Metrics ({len(self.metrics())})")

    # -- the choices ------------------------------------------------------------------------
    def level(self) -> str:
        return str(self.level_box.currentData())

    def breakdowns(self) -> tuple[str, ...]:
        return tuple(k for k, a in self.breakdown_actions.items() if a.isChecked())

    def time(self) -> str:
        return str(self.time_box.currentData())

    def metrics(self) -> tuple[str, ...]:
        return tuple(k for k, a in self.metric_actions.items() if a.isChecked())

    def compare(self) -> str | None:
        return str(self.compare_box.currentData()) or None

    def fields(self) -> dict[str, Any]:
        """The `ReportQuery` fields these selectors set."""
        return {
            "level": self.level(),
            "breakdowns": self.breakdowns(),
            "time": self.time(),
            "metrics": self.metrics(),
            "compare": self.compare(),
        }

    def set_choice(self, box: QComboBox, key: str) -> None:
        box.setCurrentIndex(box.findData(key))

    def set_breakdowns(self, keys: tuple[str, ...]) -> None:
        for key, action in self.breakdown_actions.items():
            action.setChecked(key in keys)


def _combo(name: str, items: dict[str, str]) -> QComboBox:
    box = QComboBox()
    box.setAccessibleName(name)
    for key, label in items.items():
        box.addItem(label, key)
    return box
