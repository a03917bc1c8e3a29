"""One window per user: a second launch asks the first to raise its window, then exits.

Its own module so that building the window (and bench/cold_start.py) does not load QtNetwork."""

from __future__ import annotations

import getpass
import importlib
import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)


def server_name() -> str:
    """Name of the single-instance socket: per user and per data folder. Users must not see
    each other's; and one user's separate profiles (another XDG_DATA_HOME, as each test run
    and a portable setup has) are separate apps with separate windows."""
    from desktop.config import data_dir

    who = f"{getpass.getuser()}\0{data_dir()}"
    return f"connected-accounts-{sha256_hex(who.encode())[:12]}"


def sha256_hex(data: bytes) -> str:
    """SHA-256 from CPython's own module (`_sha2`, `_sha256` before 3.12), else hashlib: the
    same digest, without hashlib loading OpenSSL's libcrypto (3.5 MiB resident) before the
    window's first paint."""
    for name in ("_sha2", "_sha256"):
        try:
            sha256 = importlib.import_module(name).sha256
        except (ImportError, AttributeError):
            continue
        return str(sha256(data).hexdigest())
    import hashlib

    return hashlib.sha256(data).hexdigest()


class SingleInstance(QObject):
    """A second launch asks the first to raise its window, then exits."""

    activation_requested = Signal()
    """Another launch wants this instance's window in front."""

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.server: QLocalServer | None = None

    def hand_over(self) -> bool:
        """True when another instance runs (and was asked to raise itself)."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(500):
            return False
        socket.write(b"raise\n")
        socket.waitForBytesWritten(500)
        socket.disconnectFromServer()
        return True

    def listen(self) -> bool:
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            # A crashed instance leaves its socket file behind; nobody answered on it above.
            QLocalServer.removeServer(self.name)
            if not server.listen(self.name):
                log.warning("Single-instance socket unavailable: %s", server.errorString())
                return False
        server.newConnection.connect(self._on_server_new_connection)
        self.server = server
        return True

    def _on_server_new_connection(self) -> None:
        assert self.server is not None
        while (socket := self.server.nextPendingConnection()) is not None:
            socket.disconnected.connect(socket.deleteLater)
            self.activation_requested.emit()
