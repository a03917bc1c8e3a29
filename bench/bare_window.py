"""The cold-start baseline alone: process start -> a bare PySide6 window holding an empty
QTableView painted (offscreen), and the child's peak RSS. bench/cold_start.py measures it side
by side with the app; this prints it on its own."""

from __future__ import annotations

import os

from bench._support import emit, median
from bench.cold_start import launch

RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def main() -> None:
    runs = [launch(["bare"], dict(os.environ)) for _ in range(RUNS)]
    emit({
        "benchmark": "bare_window",
        "start_to_paint_ms": round(median([r[0] for r in runs]) * 1000, 1),
        "max_rss_mib": round(median([r[1] for r in runs]) / 1024, 1),
        "target": "none (baseline for cold_start)",
        "ok": True,
        "runs": RUNS,
    })  # fmt: skip


if __name__ == "__main__":
    main()
