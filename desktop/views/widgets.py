"""Small shared widgets: banners, status badges, provider icons."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from PySide6.QtWidgets import QStyle

ICONS_DIR = Path(__file__).resolve().parents[2] / "resources" / "icons"


@cache
def icon(name: str) -> QIcon:
    """An SVG from resources/icons (an empty icon when it is missing). One QIcon per name, so
    each size is rendered once for all the rows that show it."""
    path = ICONS_DIR / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def provider_icon(provider: str) -> QIcon:
    """The provider's icon, or the generic OAuth 2.0 one for configured providers."""
    found = icon(provider)
    return found if not found.isNull() else icon("oauth2")


def restyle(widget: QWidget) -> None:
    """Re-apply the style sheet after a dynamic property (e.g. `kind`) changed. A widget not
    polished yet (still being built) needs nothing: it is polished with its properties as they
    are when it is first shown, so polishing it here would be done twice (bench/cold_start.py)."""
    from PySide6.QtCore import Qt  # not before the first paint (see PlainLabel)

    if not widget.testAttribute(Qt.WidgetAttribute.WA_WState_Polished):
        return
    style: QStyle = widget.style()
    style.unpolish(widget)
    style.polish(widget)


class PlainLabel(QLabel):
    """A QLabel that never reads its text as HTML. QLabel's default (Qt.AutoText) renders
    anything that looks like markup, so a provider's campaign called `<h1>x</h1>` would show
    as a heading; every label in this app shows text from somewhere, so all of them are plain.

    The widgets on show before the window's first paint set their enum properties by name
    (`setProperty("textFormat", "PlainText")` is `setTextFormat(Qt.TextFormat.PlainText)`):
    the first use of PySide6's `Qt` namespace builds all 93 of its enums, ~20 ms that the first
    paint does not need (bench/cold_start.py)."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setProperty("textFormat", "PlainText")


class Banner(QFrame):
    """A plain one-line message across the window, with an optional action button."""

    action_requested = Signal()
    """The banner's button was clicked."""

    def __init__(
        self,
        text: str = "",
        *,
        kind: str = "info",
        action: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.setProperty("kind", kind)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        self._label = PlainLabel(text)
        self._label.setWordWrap(True)
        # setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse), see PlainLabel
        self._label.setProperty("textInteractionFlags", "TextSelectableByMouse")
        layout.addWidget(self._label, 1)
        self._button: QPushButton | None = None
        if action:
            self._button = QPushButton(action)
            self._button.setAccessibleName(action)
            self._button.clicked.connect(self.action_requested)
            layout.addWidget(self._button)
        self.setAccessibleName("Notice")

    def text(self) -> str:
        return self._label.text()

    def set_text(self, text: str, kind: str | None = None) -> None:
        self._label.setText(text)
        if kind is not None and kind != self.property("kind"):
            self.setProperty("kind", kind)
            restyle(self)


class Badge(PlainLabel):
    """A coloured status pill; `kind` is ok, warning, error or busy."""

    def __init__(
        self, text: str = "", kind: str | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__("", parent)
        self.setObjectName("badge")
        self.setProperty("alignment", "AlignCenter")  # setAlignment(Qt.AlignCenter), see PlainLabel
        if kind is not None:  # not polished yet: no restyle() needed
            self.setText(text)
            self.setAccessibleName(f"Status: {text}")
            self.setProperty("kind", kind)

    def set_status(self, text: str, kind: str) -> None:
        self.setText(text)
        self.setAccessibleName(f"Status: {text}")
        if kind != self.property("kind"):
            self.setProperty("kind", kind)
            restyle(self)


def icon_label(qicon: QIcon, size: int = 32) -> QLabel:
    label = QLabel()
    pixmap: QPixmap = qicon.pixmap(QSize(size, size))
    label.setPixmap(pixmap)
    label.setFixedSize(size, size)
    return label


class Pages(QWidget):
    """Like QStackedWidget, but hidden pages take no room, so the dialog fits the page shown."""

    currentChanged = Signal(int)  # the QStackedWidget name, for familiarity
    """The page on show changed: (page index)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._pages: list[QWidget] = []
        self._current = -1

    def addWidget(self, page: QWidget) -> None:
        self._pages.append(page)
        self._layout.addWidget(page)
        page.setVisible(len(self._pages) == 1)
        if self._current < 0:
            self._current = 0

    def count(self) -> int:
        return len(self._pages)

    def currentIndex(self) -> int:
        return self._current

    def setCurrentIndex(self, index: int) -> None:
        if index == self._current:
            return
        self._current = index
        for i, page in enumerate(self._pages):
            page.setVisible(i == index)
        self.currentChanged.emit(index)
