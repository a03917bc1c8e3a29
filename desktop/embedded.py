"""The local companion backend: a subprocess on loopback, with a local user signed in by itself."""

from __future__ import annotations

import contextlib
import logging
import platform
import secrets
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING

from desktop.api.errors import ApiError
from desktop.config import log_dir
from desktop.log import redact
from desktop.secure_store import SecureStore, open_store

if TYPE_CHECKING:  # PyJWT, cryptography and httpx load on the worker that starts the backend
    from desktop.session import Session

log = logging.getLogger(__name__)

LOCAL_USER = "local@this-device"
# The embedded backend's port changes every start; its sign-in is kept under this fixed key.
STORE_KEY = "embedded-backend"
SERVE = ["-m", "backend.cli", "serve", "--host", "127.0.0.1", "--port", "0", "--embedded"]
CREATE_USER = ["-m", "backend.cli", "create-user", LOCAL_USER, "--password-stdin", "--update"]


class EmbeddedBackendError(Exception):
    """The local backend could not start; the message says why in plain words."""


class EmbeddedBackend:
    """Start with `start()` (blocking: run it off the UI thread), stop with `stop()`."""

    def __init__(
        self,
        *,
        store: SecureStore | None = None,
        start_timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url: str | None = None
        self.session: Session | None = None
        self._store = store
        self._start_timeout = start_timeout
        self._env = dict(env) if env is not None else None
        self._process: subprocess.Popen[str] | None = None
        self._log_path = log_dir() / "backend.log"
        self._log_offset = 0

    def start(self) -> str:
        """Run the backend, wait for its READY line, sign in; returns its base URL."""
        url = self._launch()
        from desktop.session import Session

        store = self._store if self._store is not None else open_store()
        session = Session(url, store, store_key=STORE_KEY)
        try:
            if not session.restore():
                password = secrets.token_urlsafe(32)  # fresh each start, never stored
                self._create_user(password)
                session.login(LOCAL_USER, password, device_name=_device_name())
        except (ApiError, EmbeddedBackendError):
            session.close()
            self.stop()
            raise
        self.session = session
        return url

    def stop(self) -> None:
        """Terminate the backend (then kill it if it does not stop)."""
        process, self._process = self._process, None
        if self.session is not None:
            self.session.close()
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> EmbeddedBackend:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals --------------------------------------------------------------------------

    def _launch(self) -> str:
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            self._log_offset = self._log_path.stat().st_size
        with open(self._log_path, "a", encoding="utf-8") as stderr_log:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, *SERVE],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr_log,
                text=True,
                env=self._env,
            )
        self._process = process
        assert process.stdout is not None
        ready = _read_ready(process.stdout, self._start_timeout)
        if ready is None:
            # stdout reaches EOF a moment before the process is reaped: give it that moment.
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=2)
            exited = process.poll() is not None
            self.stop()
            why = "stopped" if exited else f"did not start within {self._start_timeout:g} s"
            raise EmbeddedBackendError(f"The local backend {why}.{self._tail()}")
        self.base_url = ready
        log.info("Local backend listening at %s", ready)
        return ready

    def _create_user(self, password: str) -> None:
        with open(self._log_path, "a", encoding="utf-8") as stderr_log:
            done = subprocess.run(  # noqa: S603 - our own interpreter and module
                [sys.executable, *CREATE_USER, "--embedded"],
                input=password + "\n",
                stdout=subprocess.DEVNULL,
                stderr=stderr_log,
                text=True,
                env=self._env,
                timeout=self._start_timeout,
                check=False,
            )
        if done.returncode != 0:
            raise EmbeddedBackendError(f"Could not set up the local user.{self._tail()}")

    def _tail(self) -> str:
        try:
            with open(self._log_path, encoding="utf-8", errors="replace") as f:
                f.seek(self._log_offset)
                # The last lines are the ones that say why (a traceback's final line).
                text = "\n".join(f.read()[-4000:].strip().splitlines()[-6:])
        except OSError:
            return ""
        return f" Its log ({self._log_path}) ends with:\n{redact(text)}" if text else ""


def _read_ready(stdout: IO[str], timeout: float) -> str | None:
    """Wait for the `READY <url>` line; afterwards keep draining stdout so it never blocks."""
    found: list[str] = []
    seen = threading.Event()

    def pump() -> None:
        with contextlib.suppress(ValueError, OSError):
            for line in stdout:
                if not seen.is_set():
                    parts = line.split()
                    if len(parts) == 2 and parts[0] == "READY":
                        found.append(parts[1].rstrip("/"))
                        seen.set()
                else:
                    log.debug("backend: %s", redact(line.rstrip()))
        seen.set()  # EOF: the process ended

    threading.Thread(target=pump, name="backend-stdout", daemon=True).start()
    seen.wait(timeout)
    return found[0] if found else None


def _device_name() -> str:
    return f"{platform.node() or 'This computer'} (this device)"[:200]


def backend_log_path() -> Path:
    return log_dir() / "backend.log"
