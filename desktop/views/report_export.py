"""The Reports window's CSV export: prepared on the UI thread from snapshots, run off it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from desktop.cli.report import report_csv
from desktop.views.report_table import ReportTable


def csv_job(table: ReportTable, path: Path) -> Callable[[], int]:
    """A job writing the rows the filter shows, in the view's order, in the one CSV format the
    command line writes (desktop/cli/report.py); it returns the number of rows written."""
    report = dict(table.model.report or {})
    rows, order = table.model.snapshot()  # never changed afterwards: a sort makes a new order
    shown = table.source_rows()
    sources = (order[shown] if order is not None else shown).tolist()
    # Metrics unticked in the Metrics menu are left out, as `--metrics` leaves them out.
    hidden = table.hidden_keys()
    columns = list(report.get("columns") or [])
    keep = [i for i, c in enumerate(columns) if c.get("key") not in hidden]

    def write() -> int:
        picked = rows.rows(sources, keep) if rows is not None else []
        snapshot = {**report, "columns": [columns[i] for i in keep], "rows": picked}
        # newline="" keeps the CSV writer's line ends as they are (RFC 4180 rows).
        with path.open("w", encoding="utf-8", newline="") as fh:
            fh.write(report_csv(snapshot))
        return len(picked)

    return write
