"""Cold start: process start -> main window painted with the cached connections (backend
already running, cache pre-populated in a temp XDG_CACHE_HOME), against a bare PySide6 window
holding an empty QTableView, launched the same way (bench/_cold_child.py), alternating, offscreen.
Peak memory is the child's peak resident set from start to that paint (VmHWM, read by the child
as it paints); the whole process's ru_maxrss (os.wait4: start, paint, and the app then starting
its backend link until it quits) is reported beside it.
Targets (issue 18): time <= 1.2x bare, peak memory <= 1.3x bare (medians).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime

from bench._support import ROOT, backend_env, emit, median, start_ready, tempdir

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
TIME_TARGET = 1.2  # issue 18
RSS_TARGET = 1.3  # issue 18
CONNECTIONS = 5


def launch(argv: list[str], env: dict[str, str]) -> tuple[float, int, int, int]:
    """(seconds from spawn to painted, peak RSS KiB up to the paint, rows shown, whole-process
    peak RSS KiB)."""
    env = {**env, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench._cold_child", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    line = json.loads(out.decode().strip().splitlines()[-1])
    if line["painted"] is None:
        raise RuntimeError(f"{argv[0]}: never painted")
    return line["painted"] - started, line["peak_kib"], line["rows"], usage.ru_maxrss


def _connection(n: int) -> dict[str, object]:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {
        "id": f"conn-{n}", "provider": "demo", "provider_display_name": "Demo Ads",
        "display_name": f"Bench {n}", "status": "connected", "status_reason": None,
        "last_error": None, "last_error_at": None, "last_refreshed_at": now,
        "expires_at": None, "scopes": ["ads_read"],
        "accounts": [{"id": f"act_{n}", "name": "Main", "currency": "EUR",
                      "time_zone": "Europe/Berlin"}],
        "revocation_pending": False, "created_at": now, "updated_at": now,
    }  # fmt: skip


def main() -> None:
    with ExitStack() as stack:
        tmp = tempdir(stack, "bench-cold-")
        env = backend_env(tmp)
        db = f"sqlite:///{tmp / 'backend.sqlite3'}"
        backend = start_ready(
            ["serve", "--port", "0", "--sandbox", "--database-url", db], env,
            tmp / "backend.log", stack,
        )  # fmt: skip
        gui_env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTED_ACCOUNTS")}
        gui_env.update({
            "XDG_CACHE_HOME": str(tmp / "cache"), "XDG_CONFIG_HOME": str(tmp / "config"),
            "XDG_DATA_HOME": str(tmp / "share"), "XDG_RUNTIME_DIR": str(tmp / "run"),
        })  # fmt: skip
        (tmp / "run").mkdir(mode=0o700)
        # Pre-populate the desktop's cache in the child's XDG_CACHE_HOME.
        subprocess.run(
            [sys.executable, "-c",
             "import json,sys; from desktop.models.cache import CACHE_FILE, Cache;"
             "from desktop.config import cache_dir;"
             "c = Cache(cache_dir() / CACHE_FILE, sys.argv[1]);"
             "c.save_connections(json.loads(sys.argv[2])); c.close()",
             backend, json.dumps([_connection(n) for n in range(CONNECTIONS)])],
            env={**gui_env, "PYTHONPATH": str(ROOT)}, cwd=ROOT, check=True,
        )  # fmt: skip
        # Our code compiled to bytecode, as an installed wheel (and PySide6's own code) is:
        # with PYTHONDONTWRITEBYTECODE set, an editable checkout would compile it on each start.
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "desktop"], cwd=ROOT, check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        launch(["bare"], gui_env)  # warm the OS file cache for both
        launch(["app", backend], gui_env)
        app_runs, bare_runs = [], []
        for _ in range(RUNS):
            bare_runs.append(launch(["bare"], gui_env))
            app_runs.append(launch(["app", backend], gui_env))
    time_ratio = median([a[0] / b[0] for a, b in zip(app_runs, bare_runs, strict=True)])
    rss_ratio = median([a[1] / b[1] for a, b in zip(app_runs, bare_runs, strict=True)])
    whole_ratio = median([a[3] / b[3] for a, b in zip(app_runs, bare_runs, strict=True)])
    rows = min(a[2] for a in app_runs)
    emit({
        "benchmark": "cold_start",
        "app_start_to_paint_ms": round(median([a[0] for a in app_runs]) * 1000, 1),
        "bare_start_to_paint_ms": round(median([b[0] for b in bare_runs]) * 1000, 1),
        "time_ratio": round(time_ratio, 2),
        "app_peak_rss_to_paint_mib": round(median([a[1] for a in app_runs]) / 1024, 1),
        "bare_peak_rss_to_paint_mib": round(median([b[1] for b in bare_runs]) / 1024, 1),
        "rss_ratio": round(rss_ratio, 2),
        "app_whole_process_max_rss_mib": round(median([a[3] for a in app_runs]) / 1024, 1),
        "bare_whole_process_max_rss_mib": round(median([b[3] for b in bare_runs]) / 1024, 1),
        "whole_process_rss_ratio": round(whole_ratio, 2),
        "cached_connections_shown": rows,
        "target": f"time_ratio <= {TIME_TARGET} and rss_ratio <= {RSS_TARGET}",
        "ok": time_ratio <= TIME_TARGET and rss_ratio <= RSS_TARGET and rows == CONNECTIONS,
        "runs": RUNS,
    })  # fmt: skip


if __name__ == "__main__":
    main()
