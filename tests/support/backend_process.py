"""Real `python -m backend.cli …` processes for tests: one-shot commands and `serve`.

`serve` is started with `--port 0`; its `READY <url>` line gives the URL. Both pipes are
drained in threads, so a chatty process never blocks, and the test can read what it logged.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]


def backend_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a backend process: no inherited CONNECTED_ACCOUNTS_* settings, the
    given data folder, cheap password hashing, and `extra` (names without the prefix)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTED_ACCOUNTS_")}
    env.update(
        {
            "CONNECTED_ACCOUNTS_DATA_DIR": str(data_dir),
            "CONNECTED_ACCOUNTS_ARGON2_TIME_COST": "1",
            "CONNECTED_ACCOUNTS_ARGON2_MEMORY_KIB": "64",
        }
    )
    env.update({f"CONNECTED_ACCOUNTS_{k.upper()}": v for k, v in extra.items()})
    return env


def run_command(
    args: list[str], env: Mapping[str, str], stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run one backend command to its end; the caller checks the return code."""
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        input=stdin, capture_output=True, text=True, env=dict(env), cwd=ROOT, timeout=timeout,
        check=False,
    )  # fmt: skip


class _Drain:
    def __init__(self, pipe: IO[str]) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self._thread.start()

    def _run(self, pipe: IO[str]) -> None:
        for line in pipe:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        with self.changed:
            self.lines.append("")  # EOF marker
            self.changed.notify_all()

    def first_line(self, timeout: float) -> str:
        with self.changed:
            self.changed.wait_for(lambda: bool(self.lines), timeout)
            return self.lines[0] if self.lines else ""

    def text(self) -> str:
        with self.changed:
            return "".join(self.lines)


class ServeProcess:
    """A running `serve`: `url`, `pid`, and what it wrote (`stderr()`)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        assert proc.stdout is not None
        assert proc.stderr is not None
        self._out = _Drain(proc.stdout)
        self._err = _Drain(proc.stderr)
        self.url = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 60) -> str:
        line = self._out.first_line(timeout).split()
        assert line, f"serve said nothing; its log ends: {self.stderr()[-3000:]}"
        assert line[0] == "READY", (line, self.stderr()[-3000:])
        self.url = line[1]
        return self.url

    def stderr(self) -> str:
        return self._err.text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_serve(args: list[str], env: Mapping[str, str]) -> ServeProcess:
    """Start `serve --port 0 …` without waiting for it (see `ServeProcess.wait_ready`)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--port", "0", *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(env), cwd=ROOT,
    )  # fmt: skip
    return ServeProcess(proc)


@contextmanager
def serving(args: list[str], env: Mapping[str, str]) -> Iterator[ServeProcess]:
    """`with serving([...], env) as server: httpx.get(server.url + …)`; stopped afterwards."""
    server = start_serve(args, env)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def vm_rss_kib(pid: int) -> int:
    """The process's resident set size (VmRSS in /proc/<pid>/status), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")
