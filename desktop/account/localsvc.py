"""Find, start and stop the user's one local companion service (stdlib only: this is on the
command line's fast path, so no httpx, PyJWT or Qt here).

Found: the runtime file names a live process, and the service at its URL proves that it holds
this user's secret (HMAC over a fresh nonce). Anything less is stale: the file is replaced,
never trusted. Not found: under an exclusive lock on `start.lock` (so racing clients start one)
the client starts it detached, in its own session, with its output in the service log.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import logging
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from backend.localsvc.paths import (
    LOG_FILE,
    START_LOCK,
    data_dir,
    idle_timeout,
    private_dir,
    runtime_dir,
)
from backend.localsvc.runtime import (
    SERVICE_NAME,
    RuntimeInfo,
    client_proof,
    pid_alive,
    proof_matches,
    read_runtime,
    read_secret,
    remove_stale_runtime,
)

log = logging.getLogger(__name__)

SERVE = ["-m", "backend.localsvc.serve"]
START_TIMEOUT_S = 60.0
PROBE_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 20.0
MAX_LOG_BYTES = 1_000_000


class LocalServiceError(Exception):
    """The local service could not be found or started; the message says why in plain words."""


@dataclass(frozen=True)
class Running:
    """A service that proved it is this user's: where it is and what it said about itself."""

    info: RuntimeInfo
    secret: bytes
    hello: dict[str, Any]

    @property
    def url(self) -> str:
        return self.info.url


def service_log() -> Path:
    return data_dir() / LOG_FILE


def find(folder: Path | None = None) -> Running | None:
    """The running service, verified; None when there is none (or only a stale file)."""
    folder = folder or runtime_dir()
    info = read_runtime(folder)
    if info is None or not _alive(info.pid):
        return None
    secret = read_secret(folder)
    if secret is None:
        return None
    hello = _hello(info, secret)
    return Running(info, secret, hello) if hello is not None else None


_early: threading.Thread | None = None
_early_error: list[LocalServiceError] = []


def start_early() -> None:
    """Find or start the service on a thread while the caller imports the rest."""
    global _early

    def run() -> None:
        try:
            ensure()
        except LocalServiceError as exc:
            _early_error.append(exc)
        except Exception:  # noqa: S110 - the caller's own ensure() reports it in words
            pass

    _early = threading.Thread(target=run, name="local-service-start", daemon=True)
    _early.start()


def ensure(start_timeout: float = START_TIMEOUT_S) -> Running:
    """The running service, started (exactly once among racing clients) if need be."""
    early = _early
    if early is not None and early is not threading.current_thread():
        early.join(start_timeout)
        if _early_error:
            raise _early_error[0]  # it said why already; do not start it twice to hear it again
    try:
        folder = private_dir(runtime_dir())
    except OSError as exc:
        raise LocalServiceError(f"Cannot use the folder for the local service: {exc}") from None
    running = find(folder)
    if running is not None:
        return running
    with start_lock(folder):
        running = find(folder)  # another client may have started it while we waited
        if running is not None:
            return running
        stale = read_runtime(folder)
        if stale is not None:
            log.info("replacing a stale runtime file (process %d, %s)", stale.pid, stale.url)
            remove_stale_runtime(folder, stale)
        _spawn(start_timeout)
        running = find(folder)
    if running is None:
        raise LocalServiceError(
            f"The local service started but does not answer.{_log_tail(service_log(), 0)}"
        )
    return running


def stop(timeout: float = STOP_TIMEOUT_S) -> Running | None:
    """Stop the running service and wait until its process is gone; what was stopped."""
    folder = runtime_dir()
    if not folder.is_dir():
        return None
    with start_lock(folder):
        running = find(folder)
        if running is None:
            stale = read_runtime(folder)
            if stale is not None:
                remove_stale_runtime(folder, stale)
            return None
        pid = running.info.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout):
            log.warning("the local service (process %d) ignored SIGTERM; killing it", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10)
        remove_stale_runtime(folder, running.info)  # gone already unless it was killed
    return running


def status() -> dict[str, Any]:
    """`service status --json`: running or not, url, pid, idle timeout, uptime."""
    running = find()
    if running is None:
        return {
            "running": False,
            "runtime_dir": str(runtime_dir()),
            "idle_timeout": idle_timeout(),
        }
    hello = running.hello
    return {
        "running": True,
        "url": running.url,
        "pid": running.info.pid,
        "idle_timeout": float(hello.get("idle_timeout") or running.info.idle_timeout),
        "uptime": round(float(hello.get("uptime") or 0.0), 1),
        "runtime_dir": str(runtime_dir()),
        "vault_key": hello.get("vault_key"),
        "log": str(service_log()),
    }


@contextlib.contextmanager
def start_lock(folder: Path) -> Iterator[None]:
    """fcntl.flock on `start.lock`: the kernel drops it if the holder dies."""
    fd = os.open(folder / START_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


# -- internals ------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    """Alive and not a zombie (a finished child nobody reaped yet is not a service)."""
    if not pid_alive(pid):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: trust kill(pid, 0)
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _hello(info: RuntimeInfo, secret: bytes) -> dict[str, Any] | None:
    """Ask the service at `info.url` who it is; None unless it proves it holds `secret`."""
    nonce = secrets.token_urlsafe(24)
    parts = urlsplit(info.url)
    conn = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=PROBE_TIMEOUT_S
    )
    try:
        # The client's own proof lets it hear the service's details (uptime, vault key place).
        headers = {"Accept": "application/json", "X-Client-Proof": client_proof(secret, nonce)}
        conn.request("GET", f"/v1/local/hello?nonce={nonce}", headers=headers)
        response = conn.getresponse()
        body = response.read(65536)
        if response.status != 200:
            return None
        hello = json.loads(body)
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        conn.close()
    if not isinstance(hello, dict) or hello.get("service") != SERVICE_NAME:
        return None
    if hello.get("pid") != info.pid or hello.get("instance") != info.instance:
        return None
    proof = hello.get("proof")
    if not isinstance(proof, str) or not proof_matches(secret, nonce, proof):
        return None
    return hello


def _spawn(timeout: float) -> str:
    """Start the service detached and wait for its READY line; its URL.

    `sh -c '… &'` forks the service off and exits at once (a double fork without forking this
    possibly multi-threaded process by hand): the service is no child of the client, so it
    never lingers as a zombie of a long-lived window, and a SIGKILLed client takes nothing
    with it. The new session keeps it away from the client's terminal and its signals.
    """
    log_path = service_log()
    private_dir(log_path.parent)
    offset = _rotate_log(log_path)
    read_fd, write_fd = os.pipe()
    try:
        with open(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as err:
            launcher = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                ["/bin/sh", "-c", '"$@" &', "sh", sys.executable, *SERVE],
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=err,
                cwd="/",
                start_new_session=True,
                close_fds=True,
            )
        os.close(write_fd)
        write_fd = -1
        launcher.wait()
        line = _read_line(read_fd, timeout)
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
    parts = line.split()
    if len(parts) != 2 or parts[0] != "READY":
        raise LocalServiceError(f"The local service did not start.{_log_tail(log_path, offset)}")
    log.info("started the local service at %s", parts[1])
    return parts[1]


def _read_line(fd: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].decode("utf-8", "replace")


def _rotate_log(path: Path) -> int:
    """Keep one older log beside the current one; where this start's lines begin."""
    try:
        size = path.stat().st_size
    except OSError:
        return 0
    if size > MAX_LOG_BYTES:
        os.replace(path, path.with_name(path.name + ".1"))
        return 0
    return size


def _log_tail(path: Path, offset: int) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            f.seek(offset)
            # The last lines say why (a traceback's final line, our own "error: …").
            text = "\n".join(f.read()[-4000:].strip().splitlines()[-6:])
    except OSError:
        return ""
    if not text:
        return ""
    from desktop.log import redact

    return f" Its log ({path}) ends with:\n{redact(text)}"
