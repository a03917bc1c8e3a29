"""Open the system browser and notice when it did not open (issue 18).

`QDesktopServices.openUrl` answers True as soon as it has handed the URL on, even when the
browser then dies at once (Chromium run as root without `--no-sandbox`, say). On Linux and the
BSDs `xdg-open` is what it would run; running it ourselves shows its exit status: non-zero
within a few seconds means nothing opened. A worker thread waits for it, so the UI never does.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices

# How long a launcher may take to fail for it to count as "did not open".
GRACE_S = 5.0


class BrowserLaunch(QObject):
    """A browser launch being watched; `failed` fires (on the UI thread) if it died at once."""

    failed = Signal()
    """The launcher exited with an error (or could not start) within the grace period."""

    def __init__(self, argv: Sequence[str], *, grace_s: float = GRACE_S) -> None:
        super().__init__()
        self.argv = list(argv)
        try:
            process = subprocess.Popen(  # noqa: S603 - a fixed launcher and the URL
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # the browser outlives the dialog, and the app
            )
        except OSError:
            self.ok = False
            return
        self.ok = True
        threading.Thread(
            target=self._watch, args=(process, grace_s), name="browser-launch", daemon=True
        ).start()

    def _watch(self, process: subprocess.Popen[bytes], grace_s: float) -> None:
        try:
            code = process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.wait()  # still running: it opened; reap it whenever it ends
            return
        if code != 0:
            # Queued to the receiver's (UI) thread; RuntimeError: the dialog is gone already.
            with contextlib.suppress(RuntimeError):
                self.failed.emit()


def open_in_browser(url: str) -> bool | BrowserLaunch:
    """Open `url` in the system browser: False when that failed at once, else True or a
    BrowserLaunch whose `failed` signal says it died soon after."""
    launcher = shutil.which("xdg-open") if sys.platform.startswith(("linux", "freebsd")) else None
    if launcher is None:
        return QDesktopServices.openUrl(QUrl(url))
    launch = BrowserLaunch([launcher, url])
    return launch if launch.ok else False
