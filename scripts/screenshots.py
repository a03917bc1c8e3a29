"""Screenshots of the real window against a real companion backend with Demo Ads.

    XDG_DATA_HOME=$(mktemp -d) dbus-run-session -- sh -c 'echo -n pw |
      gnome-keyring-daemon --unlock --components=secrets >/dev/null;
      xvfb-run -a -s "-screen 0 1400x900x24" python scripts/screenshots.py [--out docs/screenshots]'

With a Secret Service (as above) the window looks as on a user's desktop; without one it shows
its "kept in memory only" notice.

Starts the app's own local service in throwaway folders (stopped at the end), connects two
Demo Ads people by playing the consent page over HTTP, revokes one grant at the provider,
loads a report, and saves accounts, connect, reports, disconnect and empty PNGs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOME = Path(tempfile.mkdtemp(prefix="ca-screens-"))
for _name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
    os.environ[_name] = str(HOME / _name.lower())
os.environ["CONNECTED_ACCOUNTS_DATA_DIR"] = str(HOME / "backend-data")
os.environ["XDG_RUNTIME_DIR"] = str(HOME / "run")
(HOME / "run").mkdir(mode=0o700)

import httpx  # noqa: E402
from PySide6.QtCore import QEventLoop, QPoint, QTimer  # noqa: E402
from PySide6.QtGui import QColor, QPainter, QPixmap  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from backend.sandbox.admin import admin_headers, read_token_file  # noqa: E402
from desktop.account.local_backend import LocalBackend  # noqa: E402
from desktop.app.backend_link import BackendLink  # noqa: E402
from desktop.app.bootstrap import build_app  # noqa: E402
from desktop.app.controller import Controller  # noqa: E402
from desktop.app.notify import Notifier  # noqa: E402
from desktop.config import cache_dir  # noqa: E402
from desktop.models.cache import CACHE_FILE, Cache  # noqa: E402
from desktop.models.connections import ConnectionsModel  # noqa: E402
from desktop.views.connect_dialog import ConnectDialog  # noqa: E402
from desktop.views.main_window import MainWindow  # noqa: E402
from tests.support.browser import play_consent  # noqa: E402


def pump(app: QApplication, until: Callable[[], bool], timeout: float = 60.0) -> None:
    """Run the event loop until `until()` holds."""
    deadline = time.monotonic() + timeout
    loop = QEventLoop()
    while not until():
        if time.monotonic() > deadline:
            raise SystemExit(f"Timed out waiting for the window ({until})")
        QTimer.singleShot(20, loop.quit)
        loop.exec()


def settle(app: QApplication, ms: int = 300) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def with_dialog(window: QWidget, dialog: QWidget) -> QPixmap:
    """The window dimmed, with the dialog drawn over its centre (no window manager needed)."""
    shot = window.grab()
    painter = QPainter(shot)
    painter.fillRect(shot.rect(), QColor(0, 0, 0, 70))
    front = dialog.grab()
    at = QPoint((shot.width() - front.width()) // 2, (shot.height() - front.height()) // 3)
    painter.fillRect(front.rect().translated(at).adjusted(-1, -1, 1, 1), QColor(0, 0, 0, 60))
    painter.drawPixmap(at, front)
    painter.end()
    return shot


class Browser:
    """Plays the consent page as one Demo Ads person, then follows the redirect."""

    def __init__(self) -> None:
        self.user = "Dana Demo"
        self.hold = threading.Event()  # set: consent waits (for the waiting-page screenshot)
        self.release = threading.Event()
        self.urls: list[str] = []

    def __call__(self, url: str) -> bool:
        self.urls.append(url)
        user = self.user

        def run() -> None:
            if self.hold.is_set():
                self.release.wait(60)
            httpx.get(play_consent(url, user=user), timeout=10)

        threading.Thread(target=run, daemon=True).start()
        return True


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    app = build_app()
    model = ConnectionsModel()
    window = MainWindow(model)
    window.resize(1180, 760)
    notifier = Notifier(app.windowIcon(), window)
    browser = Browser()
    controller = Controller(
        window, model, Cache(cache_dir() / CACHE_FILE, "embedded"), notifier, open_url=browser
    )
    link = BackendLink(controller, None, local_factory=LocalBackend)
    listed: list[bool] = []
    controller.connections_loaded.connect(lambda: listed.append(True))
    window.show()
    link.start()
    try:
        shoot(app, args.out, window, model, controller, link, browser, listed)
    finally:
        window.close()
        link.stop()
        from desktop.account import localsvc

        localsvc.stop()  # never leave the service process behind, even when a step failed
    print(f"Saved screenshots to {args.out}")
    return 0


def shoot(
    app: QApplication,
    out: Path,
    window: MainWindow,
    model: ConnectionsModel,
    controller: Controller,
    link: BackendLink,
    browser: Browser,
    listed: list[bool],
) -> None:
    pump(app, lambda: controller.client is not None or window.offline_banner.isVisible(), 120)
    if controller.client is None:
        raise SystemExit(window.offline_banner.text())
    pump(app, lambda: bool(listed))
    settle(app)
    window.grab().save(str(out / "empty.png"))

    # Connect: screenshot the waiting page, then let the "browser" consent.
    browser.hold.set()
    opened = controller.open_connect(None)
    assert opened is not None
    first: ConnectDialog = opened
    pump(app, lambda: first.provider_list.count() > 0)
    first.continue_button.click()
    pump(app, lambda: first.copy_button.isEnabled())
    settle(app)
    with_dialog(window, first).save(str(out / "connect.png"))
    browser.hold.clear()
    browser.release.set()
    pump(app, lambda: model.rowCount() == 1)

    browser.user = "Sam Sample"
    assert controller.open_connect("demo") is not None
    pump(app, lambda: model.rowCount() == 2)

    # Sam removes the app at Demo Ads; the next check shows it.
    base = link.local.base_url if link.local else None
    admin = admin_headers(read_token_file(HOME / "backend-data"))  # this start's admin token
    httpx.post(
        f"{base}/sandbox/admin/grants/revoke",
        json={"user_id": "user-1002"},
        headers=admin,
        timeout=10,
    ).raise_for_status()
    controller.check_all()
    pump(app, lambda: any(c.status == "needs_reconnect" for c in model.items()))
    pump(app, lambda: not any(c.checking for c in model.items()))
    window.notice_banner.hide()  # the in-window copy of the notification; shown in its own shot
    settle(app)
    window.grab().save(str(out / "accounts.png"))

    # A campaign-level report of the first connection, one row per campaign, compared with
    # the previous 30 days; the chart shows the top campaigns by spend.
    dana = next(c for c in model.items() if c.display_name == "Dana Demo")
    reports = window.reports
    reports.show_connection(dana.id)
    pump(app, lambda: reports.settled)
    reports.level_box.setCurrentIndex(reports.level_box.findData("campaign"))
    options = reports.options
    options.compare_box.setCurrentIndex(options.compare_box.findData("previous_period"))
    reports.preset_box.setCurrentText("Last 30 days")
    window.show_view(1)
    loaded: list[str] = []
    reports.report_loaded.connect(loaded.append)
    reports.load()
    pump(app, lambda: bool(loaded) and reports.settled)
    settle(app)
    window.grab().save(str(out / "reports.png"))

    window.show_view(0)
    settle(app)
    disconnect = controller._on_accounts_disconnect_requested(dana.id)
    assert disconnect is not None
    settle(app)
    with_dialog(window, disconnect).save(str(out / "disconnect.png"))
    disconnect.reject()


if __name__ == "__main__":
    sys.exit(main())
