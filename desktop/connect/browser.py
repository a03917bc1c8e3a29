"""The system browser as the app's handler for http(s) links, noticing when it did not open.

`QDesktopServices.openUrl` answers True as soon as it has handed the URL on, even when the
browser then dies at once (Chromium run as root without `--no-sandbox`, say). On Linux and the
BSDs it would run `xdg-open`; `install` makes the app run it itself, as Qt's URL handler for
http and https, and watch its exit status: non-zero within a few seconds means nothing opened,
and `failed` says so (issue 18). A worker thread waits for the process, so the UI never does.
Being a Qt URL handler, it leaves `QDesktopServices.openUrl` the one way links are opened, and
another handler (a test's browser) can still take its place.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence

from PySide6.QtCore import QObject, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices

# How long a launcher may take to fail for it to count as "did not open".
GRACE_S = 5.0
SCHEMES = ("http", "https")


class BrowserOpener(QObject):
    """Opens links with `argv + [url]` and emits `failed(url)` if that died at once."""

    failed = Signal(str)
    """The launcher could not start, or exited with an error within the grace period: (url)."""

    def __init__(
        self, argv: Sequence[str], *, grace_s: float = GRACE_S, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.argv = list(argv)
        self.grace_s = grace_s

    @Slot(QUrl)
    def open_url(self, url: QUrl) -> None:
        text = url.toString(QUrl.ComponentFormattingOption.FullyEncoded)
        try:
            process = subprocess.Popen(  # noqa: S603 - a fixed launcher and the URL
                [*self.argv, text],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # the browser outlives the dialog, and the app
            )
        except OSError:
            self.failed.emit(text)
            return
        threading.Thread(
            target=self._watch, args=(process, text), name="browser-launch", daemon=True
        ).start()

    def _watch(self, process: subprocess.Popen[bytes], text: str) -> None:
        try:
            code = process.wait(timeout=self.grace_s)
        except subprocess.TimeoutExpired:
            process.wait()  # still running: it opened; reap it whenever it ends
            return
        if code != 0:
            # Queued to the UI thread; RuntimeError: the app is shutting down.
            with contextlib.suppress(RuntimeError):
                self.failed.emit(text)


_installed: BrowserOpener | None = None


def install(parent: QObject, argv: Sequence[str] | None = None) -> BrowserOpener | None:
    """Make `argv` (default: `xdg-open`, on Linux and the BSDs) the app's http(s) handler."""
    global _installed
    if argv is None:
        found = shutil.which("xdg-open")
        if found is None or not sys.platform.startswith(("linux", "freebsd", "openbsd")):
            return None
        argv = [found]
    uninstall()
    opener = BrowserOpener(argv, parent=parent)
    for scheme in SCHEMES:
        # The stubs say bytes; PySide6 itself accepts only str here.
        QDesktopServices.setUrlHandler(scheme, opener, "open_url")  # type: ignore[arg-type]
    _installed = opener
    return opener


def uninstall() -> None:
    global _installed
    if _installed is not None:
        for scheme in SCHEMES:
            QDesktopServices.unsetUrlHandler(scheme)
        _installed = None


def installed() -> BrowserOpener | None:
    """The opener `install` put in place, if any (dialogs listen to its `failed`)."""
    return _installed
