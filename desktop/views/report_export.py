"""The Reports window's CSV export and the freeing of replaced reports: work prepared on the
UI thread from immutable snapshots, run off it (or in steps)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from desktop.cli.report import report_csv
from desktop.views.report_table import ReportTable

RELEASE_ROWS_PER_STEP = 5000


def csv_job(table: ReportTable, report: dict[str, Any], path: Path) -> Callable[[], int]:
    """A job writing the rows the filter shows, in the view's order, in the one CSV format the
    command line writes (desktop/cli/report.py); it returns the number of rows written."""
    # A copy of the row list (not of the rows): a replaced report's list is emptied.
    source, order = table.model.snapshot()
    picked = [source[order[r] if order is not None else r] for r in table.source_rows()]
    # Metrics unticked in the Metrics menu are left out, as `--metrics` leaves them out.
    hidden = table.hidden_keys()
    columns = list(report.get("columns") or [])
    keep = [i for i, c in enumerate(columns) if c.get("key") not in hidden]

    def write() -> int:
        rows = picked if len(keep) == len(columns) else [[r[i] for i in keep] for r in picked]
        snapshot = {**report, "columns": [columns[i] for i in keep], "rows": rows}
        # newline="" keeps the CSV writer's line ends as they are (RFC 4180 rows).
        with path.open("w", encoding="utf-8", newline="") as fh:
            fh.write(report_csv(snapshot))
        return len(picked)

    return write


def release_steps(report: dict[str, Any]) -> Generator[None, None, None]:
    """Free a replaced report's rows a slice at a time: dropping 100,000 rows at once is one
    ~20 ms run of deallocations on the UI thread. Only the report's own "rows" list is emptied:
    the table model and an export work on the model's copy of it, and the steps that read this
    list (the chart's sums, the cache's encoding) were cancelled when the report was replaced;
    they check before each step, so none of them runs again."""
    rows = report.get("rows")
    del report
    while isinstance(rows, list) and rows:
        del rows[-RELEASE_ROWS_PER_STEP:]
        yield
