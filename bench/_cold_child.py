"""Child process for bench/cold_start.py: `python -m bench._cold_child app BACKEND_URL` builds the
main window with desktop/app/bootstrap.py build_main, as run_gui does (the parent fills the cache);
`python -m bench._cold_child bare` shows a bare QTableView. Prints, as JSON, the monotonic time
of the first paint event (app: the first paint once the cached connections are in the model)
and the peak resident memory up to that paint (VmHWM), besides the parent's whole-process
ru_maxrss.

The first paint is seen by an event filter on each child's top-level widget (the QTableView,
the main window), which Qt paints first in a paint pass. Not on the application: a Python
filter there sees every event of every object and has PySide6 wrap each object for Python
(~290 events and ~130 widget types built for the bare window, ~1,100 events for the app),
which added ~40 ms to both children and made the ratio look better than the programs are."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QTableView


def peak_rss_kib() -> int:
    """This process's peak resident set so far (Linux /proc: VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


class _FirstPaint(QObject):
    def __init__(self, ready: object) -> None:
        super().__init__()
        self.ready = ready
        self.at: float | None = None
        self.peak_kib = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if self.at is None and event.type() == QEvent.Type.Paint and self.ready():  # type: ignore[operator]
            self.at = time.monotonic()
            self.peak_kib = peak_rss_kib()
            QTimer.singleShot(0, QApplication.quit)
        return False


def bare() -> None:
    app = QApplication(sys.argv[:1])
    painted = _FirstPaint(lambda: True)
    view = QTableView()
    view.installEventFilter(painted)
    view.resize(900, 600)
    view.show()
    QTimer.singleShot(20_000, app.quit)
    app.exec()
    print(json.dumps({"painted": painted.at, "peak_kib": painted.peak_kib, "rows": 0}), flush=True)


def full(backend_url: str) -> None:
    """run_gui's own wiring (desktop.app.bootstrap.build_main + MainParts.start), minus the
    single-instance guard and signal handlers."""
    from desktop.app.bootstrap import build_app, build_main
    from desktop.concurrency import tasks

    app = build_app()
    parts = build_main(app, backend_url)
    painted = _FirstPaint(lambda: parts.model.rowCount() > 0)
    parts.window.installEventFilter(painted)
    parts.start()
    QTimer.singleShot(20_000, app.quit)
    app.exec()
    rows = parts.model.rowCount()
    parts.stop()
    tasks.shutdown(cancel=True)
    out = {"painted": painted.at, "peak_kib": painted.peak_kib, "rows": rows}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "bare":
        bare()
    else:
        full(sys.argv[2])
