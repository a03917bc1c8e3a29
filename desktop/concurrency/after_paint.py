"""Run something right after a widget's next paint: work that would compete with that paint for
the GIL (imports, sums over a 100,000-row report, re-encoding it for the cache) waits until the
user sees the result (bench/cold_start.py, bench/ui_stall.py)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QAbstractEventDispatcher, QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

PAINT_WAIT_MS = 500
"""No paint comes while a window is hidden or minimised: the callback runs after this anyway."""


class _NextPaint(QObject):
    """Calls `callback` once, as soon as `window` has painted (its children paint with it)."""

    def __init__(self, window: QWidget, callback: Callable[[], None]) -> None:
        super().__init__(window)
        self.window = window
        self.callback: Callable[[], None] | None = callback
        # No paint comes while the window is hidden or minimised: never wait for one forever.
        QTimer.singleShot(PAINT_WAIT_MS, self._fire)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Paint:
            return False
        if self.callback is not None and watched is self.window:
            # Not inside the paint, nor right after it: once the event loop has nothing left to
            # do (the layouts and paints the new content set off are done) and would wait.
            self.window.removeEventFilter(self)
            dispatcher = QAbstractEventDispatcher.instance()
            if dispatcher is None:
                QTimer.singleShot(0, self._fire)
            else:
                # Once, like Qt.ConnectionType.SingleShotConnection, which would make PySide6
                # build all of `Qt`'s enums inside the window's first paint (bench/cold_start.py).
                dispatcher.aboutToBlock.connect(self._fire_when_idle)
        return False

    def _fire_when_idle(self) -> None:
        dispatcher = QAbstractEventDispatcher.instance()
        if dispatcher is not None:
            dispatcher.aboutToBlock.disconnect(self._fire_when_idle)
        self._fire()

    def _fire(self) -> None:
        callback, self.callback = self.callback, None
        if callback is None:
            return
        self.window.removeEventFilter(self)
        self.deleteLater()
        callback()


def after_next_paint(window: QWidget, callback: Callable[[], None]) -> None:
    """Run `callback` on the UI thread once `window` has painted and the event loop is idle
    (or after PAINT_WAIT_MS). A window destroyed first still gets its callback, on the next
    pass of the event loop: a task waiting to start (run_in_background's `start`) then ends
    instead of waiting for ever."""
    once: list[Callable[[], None]] = [callback]

    def run() -> None:
        if once:
            once.pop()()

    watcher = _NextPaint(window, run)
    window.destroyed.connect(lambda *_: QTimer.singleShot(0, run))
    # On the widget, not the application: the widget painted is all it needs to see, and an
    # application-wide Python filter would see every event of every object until then (some
    # 1,100 before the main window's first paint, each wrapped for Python: bench/cold_start.py).
    # update() paints the widget itself, not only whichever child changed.
    window.installEventFilter(watcher)
    window.update()
