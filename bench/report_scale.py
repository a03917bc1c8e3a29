"""Report scale: a 1,000,000-row ad-level daily report (bench/_report_scale.py), fetched over HTTP
from another process and decoded into typed columns (desktop/concurrency/columnar.py) on a pool
thread by the Reports view's ReportLoader (desktop/models/report_loader.py), into the table
model the view shows (desktop/models/report.py) in a QTableView, then scrolled to its end; each
run in a fresh child process (offscreen Qt).

Figures (medians over runs), each with its target:
- `ratio`: fetch + decode + model ready, over `json.loads` of the same bytes (same child, after);
- `rss_to_payload`: the child's peak RSS growth from before the fetch, over the payload bytes;
- `longest_stall_ms`: the longest gap of a 5 ms UI heartbeat while it loads and while the
  view scrolls to the end.
"""

from __future__ import annotations

import gc
import json
import os
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

from bench._support import emit, median

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
RATIO_TARGET = 1.5
RSS_TARGET = 4.0
STALL_TARGET_MS = 16.0


def _peak_and_now_kib() -> tuple[int, int]:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["VmHWM"].split()[0]), int(fields["VmRSS"].split()[0])


def child(url: str) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import httpx
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    from bench.ui_stall import Heartbeat
    from desktop.models.report import ReportTableModel
    from desktop.models.report_loader import ReportLoader
    from desktop.models.report_query import ReportQuery
    from desktop.views.report_table import rows_view

    app = QApplication.instance() or QApplication([])
    # The Reports view's table of rows as desktop/views/report_table.py makes it (fixed row
    # height, no row numbers, its cell delegate), with Qt's default column widths.
    model = ReportTableModel()
    view = rows_view(model)
    view.resize(1100, 800)
    view.show()
    loop = QEventLoop()
    for _ in range(5):
        loop.processEvents()
    with httpx.Client(timeout=120) as client:
        client.get(url, headers={"Range": "bytes=0-0"})  # warm the connection
        gc.collect()
        _, rss_before = _peak_and_now_kib()

        # As the Reports view loads a report: its ReportLoader fetches the bytes and decodes
        # them into columns on a pool thread (desktop/models/report_loader.py).
        fetched: list[bytes] = []

        def fetch(*_: object) -> bytes:
            fetched.append(client.get(url).content)
            return fetched[-1]

        loader = ReportLoader(fetch, None)
        query = ReportQuery(since=date(2026, 1, 1), until=date(2026, 3, 31))
        beat = Heartbeat()
        beat.start()
        t0 = time.perf_counter()
        loader.load("bench", query)
        while loader.loading:
            # Sleep until the next event, as the app's event loop does (the heartbeat wakes it
            # every 5 ms). Not processEvents(flags, maxTime): that overload ignores
            # WaitForMoreEvents (Qt's documentation) and returns at once, so this loop spun and
            # took the GIL from the decoding worker ~1,000 times a second, which no app does.
            loop.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
        got = loader.last("bench")
        assert got is not None, "the report did not load"
        payload, (head, rows) = fetched[-1], got[1]
        model.set_decoded((head, rows))
        loop.processEvents()
        ready_s = time.perf_counter() - t0
        load_stall = beat.stop()
        peak, _ = _peak_and_now_kib()
        assert model.rowCount() == rows.count
        # Scroll to the end a page at a time, then jump there.
        beat.start()
        bar = view.verticalScrollBar()
        for step in range(20):
            bar.setValue(bar.maximum() * (step + 1) // 20)
            loop.processEvents()
        view.scrollToBottom()
        loop.processEvents()
        scroll_stall = beat.stop()
        last = model.data(model.index(rows.count - 1, 0))
    del loader, got
    fetched.clear()
    gc.collect()
    t0 = time.perf_counter()
    json.loads(payload)
    loads_s = time.perf_counter() - t0
    del app
    return {
        "rows": rows.count, "payload_bytes": len(payload), "ready_ms": ready_s * 1000,
        "json_loads_ms": loads_s * 1000, "rss_growth_kib": peak - rss_before,
        "load_stall_ms": load_stall * 1000, "scroll_stall_ms": scroll_stall * 1000,
        "columns_bytes": rows.nbytes(), "last_date": last,
    }  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    from bench._report_scale import CACHE, report_bytes

    report_bytes()  # built once, cached in the temp folder
    with ExitStack() as stack:
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
             str(CACHE.parent), str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        stack.callback(server.wait)
        stack.callback(server.terminate)
        url = f"http://127.0.0.1:{port}/{CACHE.name}"
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        runs = []
        for _ in range(RUNS):
            proc = subprocess.run(
                [sys.executable, "-m", "bench.report_scale", "--child", url],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    ratio = median([r["ready_ms"] / r["json_loads_ms"] for r in runs])
    rss = median([r["rss_growth_kib"] * 1024 / r["payload_bytes"] for r in runs])
    stall = median([max(r["load_stall_ms"], r["scroll_stall_ms"]) for r in runs])
    figures = {
        "ratio": {"value": round(ratio, 2), "target": f"<= {RATIO_TARGET}",
                  "ok": ratio <= RATIO_TARGET},
        "rss_to_payload": {"value": round(rss, 2), "target": f"<= {RSS_TARGET}",
                           "ok": rss <= RSS_TARGET},
        "longest_stall_ms": {"value": round(stall, 1), "target": f"<= {STALL_TARGET_MS:.0f}",
                             "ok": stall <= STALL_TARGET_MS},
    }  # fmt: skip
    emit({
        "benchmark": "report_scale",
        "rows": runs[0]["rows"],
        "payload_bytes": runs[0]["payload_bytes"],
        "fetch_decode_ready_ms": round(median([r["ready_ms"] for r in runs]), 1),
        "json_loads_ms": round(median([r["json_loads_ms"] for r in runs]), 1),
        "columns_bytes": runs[0]["columns_bytes"],
        "load_stall_ms_each": [round(r["load_stall_ms"], 1) for r in runs],
        "scroll_stall_ms_each": [round(r["scroll_stall_ms"], 1) for r in runs],
        **figures,
        "target": "; ".join(f"{k} {v['target']}" for k, v in figures.items()),
        "ok": all(v["ok"] for v in figures.values()),
        "runs": RUNS,
    })  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(sys.argv[2])), flush=True)
        os._exit(0)  # no teardown: PySide6 6.12 can crash freeing Qt objects at exit
    else:
        main()
