"""A page's empty state: a heading, a line of words and the one action that fills the page."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QPushButton, QVBoxLayout, QWidget

from desktop.views.widgets import PlainLabel, icon, icon_label


class EmptyState(QWidget):
    """Centred art, heading, words and a primary button; `action_requested` when clicked."""

    action_requested = Signal()
    """The button was clicked."""

    def __init__(
        self,
        heading: str,
        words: str,
        action: str,
        *,
        art: str = "connected-accounts",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        box = QVBoxLayout(self)
        box.addStretch(1)
        box.addWidget(icon_label(icon(art), 72), 0, Qt.AlignmentFlag.AlignHCenter)
        self.heading = PlainLabel(heading)
        self.heading.setObjectName("emptyTitle")
        box.addWidget(self.heading, 0, Qt.AlignmentFlag.AlignHCenter)
        self.words = PlainLabel(words)
        self.words.setObjectName("rowSubtitle")
        self.words.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.words.setWordWrap(True)
        box.addWidget(self.words, 0, Qt.AlignmentFlag.AlignHCenter)
        self.button = QPushButton(action)
        self.button.setObjectName("primary")
        self.button.setAccessibleName(action)
        self.button.clicked.connect(self.action_requested)
        box.addSpacing(8)
        box.addWidget(self.button, 0, Qt.AlignmentFlag.AlignHCenter)
        box.addStretch(2)


NO_REPORTS_YET = (
    "No ad account to report on yet",
    "Connect an ad account, and its figures show up here as a table and a chart.",
    "Connect an ad account",
    "reports",
)


def empty_or_content(
    outer: QVBoxLayout, words: tuple[str, str, str, str]
) -> tuple[EmptyState, QWidget, QVBoxLayout]:
    """An empty state and a content widget, both in `outer`; the page shows one of them.
    Returns the empty state, the content widget and the layout to fill it through."""
    heading, text, action, art = words
    empty = EmptyState(heading, text, action, art=art)
    outer.addWidget(empty, 1)
    content = QWidget()
    layout = QVBoxLayout(content)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(outer.spacing())
    outer.addWidget(content, 1)
    return empty, content, layout
