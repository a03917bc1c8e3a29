"""Report load: a 100,000-row report's JSON bytes -> table model, totals model and chart data
ready, against `json.loads` of the same bytes, side by side in one process (offscreen Qt).

Pipeline = what the Reports view does with the bytes ApiClient.report_bytes answers:
columnar.decode (its ReportLoader, on a worker) + ReportTableModel.set_decoded +
ReportTotalsModel.set_report + chart_top.top_series (the chart's series for its default metric,
on a worker). Also timed, for information: the real widgets (ReportTable.set_report +
ReportChart.set_report, until the chart has drawn).
Target: pipeline <= 1.1x json.loads (medians; issue 18).
"""

from __future__ import annotations

import gc
import json
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import QApplication

from bench._report import report_bytes
from bench._support import emit, median
from desktop.concurrency import columnar
from desktop.models.chart_top import top_series
from desktop.models.report import ReportTableModel, ReportTotalsModel
from desktop.views.report_chart import ReportChart
from desktop.views.report_table import ReportTable

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
TARGET = 1.1  # issue 18


def main() -> None:
    _app = QApplication.instance() or QApplication([])  # kept alive for the run
    payload = report_bytes()
    table_model, totals_model = ReportTableModel(), ReportTotalsModel()
    table, chart = ReportTable(), ReportChart()
    metric = chart.chart_metric()
    loads_s: list[float] = []
    pipeline_s: list[float] = []
    views_s: list[float] = []
    ratios: list[float] = []
    rows = 0
    for _ in range(RUNS):
        gc.collect()
        t0 = time.perf_counter()
        json.loads(payload)
        loads = time.perf_counter() - t0
        gc.collect()
        table_model.set_decoded(None)
        t0 = time.perf_counter()
        report = columnar.decode(payload)
        table_model.set_decoded(report)
        totals_model.set_report(report[0])
        series = top_series(report[0]["columns"], report[1], metric)
        pipeline = time.perf_counter() - t0
        rows = table_model.rowCount()
        assert rows == 100_000
        assert len(series[0][1]) == 1000
        gc.collect()
        t0 = time.perf_counter()
        table.set_report(report)
        chart.set_report(report)
        loop = QEventLoop()  # not the static one: PySide6 6.12 unrefs None there
        while chart.busy:
            # Sleep until the next event, as the app's loop does: the (flags, maxTime) overload
            # ignores WaitForMoreEvents and would spin here (see bench/report_scale.py).
            loop.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
        views_s.append(time.perf_counter() - t0)
        table.set_report(None)
        chart.set_report(None)
        loads_s.append(loads)
        pipeline_s.append(pipeline)
        ratios.append(pipeline / loads)
    ratio = median(ratios)
    emit({
        "benchmark": "report_load",
        "rows": rows,
        "payload_bytes": len(payload),
        "json_loads_ms": round(median(loads_s) * 1000, 1),
        "pipeline_ms": round(median(pipeline_s) * 1000, 1),
        "ratio": round(ratio, 2),
        "ratios": [round(r, 2) for r in ratios],
        "views_set_report_ms": round(median(views_s) * 1000, 1),
        "chart_metric": metric,
        "target": f"pipeline (decode + models + totals + chart data) <= {TARGET}x json.loads",
        "ok": ratio <= TARGET,
        "runs": RUNS,
    })  # fmt: skip


if __name__ == "__main__":
    main()
