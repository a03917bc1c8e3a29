"""The local companion service process: `python -m backend.localsvc.serve`.

Started detached by a client (desktop/account/localsvc.py) under the start lock; holds the instance
lock for its whole life, so there is never a second one for this user. Prints `READY <url>`
once the runtime file names it, then lets go of the client's pipe. Stops by itself after
`idle_timeout` seconds with no request in flight and no open event stream, and on SIGTERM;
either way it removes its runtime file and secret (only while they are still its own).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.heap import settle_heap
from backend.localsvc.paths import (
    INSTANCE_LOCK,
    UnsafeFolder,
    data_dir,
    private_dir,
    runtime_dir,
)
from backend.localsvc.runtime import (
    RuntimeInfo,
    new_secret,
    read_runtime,
    remove_runtime_if_ours,
    remove_secret_if_ours,
    write_runtime,
)

if TYPE_CHECKING:
    from backend.config import Settings
    from backend.vault import KeyRing, VaultKeyPlace

log = logging.getLogger("connected_accounts.local_service")

INSTANCE_LOCK_WAIT_S = 10.0
# `service stop` and logout must not wait for ever on an open event stream.
GRACEFUL_SHUTDOWN_S = 3


def _hold_instance_lock(folder: Path) -> int | None:
    """Take the lock only a running service holds; wait a little for one that is stopping."""
    fd = os.open(folder / INSTANCE_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + INSTANCE_LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                return None
            time.sleep(0.05)


def _tighten(folder: Path) -> None:
    """Files an older version left readable by others (the database, its WAL) become 0600."""
    for path in folder.iterdir():
        try:
            st = path.lstat()
            if st.st_uid == os.getuid() and st.st_mode & 0o077 and path.is_file():
                os.chmod(path, 0o600)
        except OSError:
            continue


def _bind_loopback() -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio then sets TCP_NODELAY on accepted connections.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class _Prefetch:
    """`load_vault_keys(settings)` on a thread; `result()` returns it or raises."""

    def __init__(self, settings: Settings) -> None:
        self._box: list[Any] = []
        self._error: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(settings,), daemon=True)
        self._thread.start()

    def _run(self, settings: Settings) -> None:
        from backend.vault import load_vault_keys

        try:
            self._box.append(load_vault_keys(settings))
        except BaseException as exc:  # carried to the main thread
            self._error.append(exc)

    def result(self) -> tuple[KeyRing, VaultKeyPlace | None]:
        self._thread.join()
        if self._error:
            raise self._error[0]
        value: tuple[KeyRing, VaultKeyPlace | None] = self._box[0]
        return value


def _release_stdout() -> None:
    """After READY nothing more goes to the client's pipe: the client may be gone."""
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def _on_sigterm(signum: int, frame: object) -> None:
    # SystemExit unwinds through the `finally` blocks that remove the runtime file and secret.
    # (uvicorn re-raises the signal it caught once it has shut down: this handler gets it.)
    raise SystemExit(0)


def main() -> int:
    os.umask(0o077)  # every file this process makes (DB, WAL, logs, keys) is the user's alone
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        folder = private_dir(runtime_dir())
        data = private_dir(data_dir())
    except (UnsafeFolder, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    lock_fd = _hold_instance_lock(folder)
    if lock_fd is None:
        running = read_runtime(folder)
        pid = f" (process {running.pid})" if running else ""
        print(
            f"error: another local service{pid} holds {folder / INSTANCE_LOCK} but does not "
            "answer. Stop it with: connected-accounts service stop",
            file=sys.stderr,
            flush=True,
        )
        return 3
    _tighten(data)
    try:
        return _serve(folder)
    finally:
        os.close(lock_fd)


def _serve(folder: Path) -> int:
    from backend.config import Settings

    secret = new_secret(folder)
    sock = _bind_loopback()
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = Settings(local_service=True, host="127.0.0.1", port=port)
    # The vault key comes over D-Bus from the keyring: fetch it while the app's modules import.
    vault = _Prefetch(settings)
    import uvicorn

    from backend.app import create_app
    from backend.auth.service import ensure_passwordless_user
    from backend.limits import head_timeout_protocol
    from backend.localsvc.endpoints import LOCAL_EMAIL, LocalState
    from backend.logging_setup import setup_logging
    from backend.state import AppState
    from backend.vault import VaultError

    setup_logging(settings.log_level)
    try:
        app = create_app(settings, vault=vault.result())
    except (ValueError, VaultError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        remove_secret_if_ours(folder, secret)
        return 2
    state: AppState = app.state.ca
    with state.sessions.begin() as session:
        user_id = ensure_passwordless_user(session, LOCAL_EMAIL)
    info = RuntimeInfo(
        url=url,
        pid=os.getpid(),
        instance=secrets.token_hex(8),
        started_at=time.time(),
        idle_timeout=settings.idle_timeout,
    )
    app.state.local = LocalState(
        secret=secret,
        user_id=user_id,
        instance=info.instance,
        started_at=info.started_at,
        idle_timeout=info.idle_timeout,
        vault=app.state.vault_place,
    )
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        # The same request bounds as `serve`; no forwarded headers: nothing proxies loopback.
        http=head_timeout_protocol(settings.request_read_timeout_s),
        limit_concurrency=settings.limit_concurrency,
        proxy_headers=False,
        forwarded_allow_ips="",
        ws="none",  # no WebSocket routes: do not import a WebSocket library at each start
    )

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                settle_heap()
                write_runtime(folder, info)
                print(f"READY {url}", flush=True)
                _release_stdout()
                log.info("local service listening on %s (pid %d)", url, info.pid)
                self._idle_task = asyncio.create_task(self._watch_idle())

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            app.state.before_shutdown()  # ends open event streams (backend.app)
            await super().shutdown(sockets=sockets)

        async def _watch_idle(self) -> None:
            timeout = settings.idle_timeout
            step = max(0.05, min(1.0, timeout / 10))
            while not self.should_exit:
                await asyncio.sleep(step)
                if state.activity.idle_for() >= timeout:
                    log.info("no client for %g s: the local service stops", timeout)
                    self.should_exit = True

    server = _Server(config)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        remove_runtime_if_ours(folder, info.pid, info.instance)
        remove_secret_if_ours(folder, secret)
        log.info("local service stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
