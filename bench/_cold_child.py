"""Child process for bench/cold_start.py: `python -m bench._cold_child app BACKEND_URL` builds
the app's main window the way desktop/app.py run_gui does (cache pre-populated by the parent);
`python -m bench._cold_child bare` shows a bare QTableView. Prints, as JSON, the monotonic time
of the first paint event (app: the first paint once the cached connections are in the model)."""

from __future__ import annotations

import json
import sys
import time

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QTableView


class _FirstPaint(QObject):
    def __init__(self, ready: object) -> None:
        super().__init__()
        self.ready = ready
        self.at: float | None = None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt)
        if self.at is None and event.type() == QEvent.Type.Paint and self.ready():  # type: ignore[operator]
            self.at = time.monotonic()
            QTimer.singleShot(0, QApplication.quit)
        return False


def bare() -> None:
    app = QApplication(sys.argv[:1])
    painted = _FirstPaint(lambda: True)
    app.installEventFilter(painted)
    view = QTableView()
    view.resize(900, 600)
    view.show()
    app.exec()
    print(json.dumps({"painted": painted.at, "rows": 0}), flush=True)


def full(backend_url: str) -> None:
    from desktop.app import BackendLink, build_app, open_cache
    from desktop.models.connections import ConnectionsModel
    from desktop.notify import Notifier
    from desktop.views.controller import Controller
    from desktop.views.main_window import MainWindow

    app = build_app()
    model = ConnectionsModel()
    painted = _FirstPaint(lambda: model.rowCount() > 0)
    app.installEventFilter(painted)
    window = MainWindow(model)
    notifier = Notifier(app.windowIcon(), window)
    controller = Controller(window, model, open_cache(backend_url), notifier)
    link = BackendLink(controller, backend_url)
    controller.load_cached()
    window.show()
    link.start()
    QTimer.singleShot(20_000, app.quit)
    app.exec()
    rows = model.rowCount()
    notifier.close()
    link.stop()
    from desktop import tasks

    tasks.shutdown(cancel=True)
    print(json.dumps({"painted": painted.at, "rows": rows}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "bare":
        bare()
    else:
        full(sys.argv[2])
