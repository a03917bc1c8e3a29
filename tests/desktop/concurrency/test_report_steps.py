"""CPU work over a loaded report runs in steps on the UI thread
(desktop.concurrency.tasks.run_in_steps): bench/ui_stall.py showed that on a worker it shares the
GIL with the UI thread and stretches every paint meanwhile. These check the steps' own rules and
what the Reports view builds on them: results and errors delivered, cancellation, a shared per-pass
budget, a replaced report freed in slices without touching anything still in use, and a reload
keeping the column widths."""

from __future__ import annotations

import inspect
import threading
import weakref
from collections.abc import Generator
from typing import Any

import pytest
from PySide6.QtCore import QModelRoleData, QObject, Qt

from desktop.concurrency import columnar, tasks
from desktop.concurrency.tasks import run_in_steps
from desktop.models.connections import ConnectionsModel
from desktop.models.report import RawValueRole, ReportTableModel
from desktop.views.reports import ReportsView
from tests.desktop.support import data
from tests.desktop.support.fakes import FakeApi


def _count(to: int, seen: list[int]) -> Generator[None, None, int]:
    for _ in range(to):
        seen.append(threading.get_ident())
        yield
    return to


def test_steps_run_on_the_ui_thread_and_hand_over_their_result(qtbot) -> None:
    owner = QObject()
    seen: list[int] = []
    results: list[int] = []
    run_in_steps(owner, _count(50, seen), success=results.append)
    assert results == []  # nothing runs before the event loop does
    qtbot.waitUntil(lambda: results == [50], timeout=2000)
    assert set(seen) == {threading.get_ident()}
    assert not tasks._running


def test_a_failing_step_reaches_the_failure_callback(qtbot) -> None:
    def broken() -> Generator[None, None, int]:
        yield
        raise ValueError("no such column")

    errors: list[Exception] = []
    run_in_steps(QObject(), broken(), success=lambda _: None, failure=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=2000)
    assert isinstance(errors[0], ValueError)


@pytest.mark.parametrize("how", ["cancel", "parent gone"])
def test_steps_stop_when_cancelled_or_their_parent_is_gone(qtbot, how: str) -> None:
    owner = QObject()
    seen: list[int] = []
    results: list[int] = []
    steps = _count(10**9, seen)
    task = run_in_steps(owner, steps, success=results.append)
    qtbot.waitUntil(lambda: len(seen) > 10, timeout=5000)
    if how == "cancel":
        task.cancel()
    else:
        owner.deleteLater()
    qtbot.waitUntil(lambda: task not in tasks._running, timeout=5000)
    stopped_at = len(seen)
    # Closed: the generator can never run another step.
    assert inspect.getgeneratorstate(steps) == inspect.GEN_CLOSED
    qtbot.wait(50)
    assert len(seen) == stopped_at
    assert results == []


def test_all_steps_share_one_budget_per_pass(qapp, monkeypatch: pytest.MonkeyPatch) -> None:
    """Five generators of 2 ms steps: one pass of the event loop runs about one budget (8 ms) of
    them, not one budget per generator (40 ms). A fake clock that each step moves on by 2 ms:
    a busy machine makes no difference to what is counted."""
    now = [0.0]
    steps = tasks._Steps(clock=lambda: now[0])
    monkeypatch.setattr(tasks, "_steps", steps)
    monkeypatch.setattr(tasks, "STEP_BUDGET_S", 0.008)
    per_pass = [0]

    def slow(n: int) -> Generator[None, None, int]:
        for _ in range(n):
            now[0] += 0.002
            per_pass[-1] += 1
            yield
        return n

    owner = QObject()
    done: list[int] = []
    for _ in range(5):
        run_in_steps(owner, slow(20), success=done.append)
    while len(done) < 5:  # each _run() is what one pass of the event loop runs
        steps._run()
        per_pass.append(0)
    assert sum(per_pass) == 5 * 20
    assert max(per_pass) == 4  # steps at 0, 2, 4 and 6 ms; the budget is spent at 8 ms
    assert not steps.active
    assert not steps.timer.isActive()


def test_multi_data_answers_like_data() -> None:
    model = ReportTableModel()
    model.set_report(data.report(3, campaigns=1))
    for column in range(model.columnCount()):
        index = model.index(1, column)
        for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.TextAlignmentRole, RawValueRole):
            asked = QModelRoleData(int(role))
            model.multiData(index, asked)
            assert asked.data() == model.data(index, int(role))
        nothing = QModelRoleData(int(Qt.ItemDataRole.DecorationRole))
        model.multiData(index, nothing)
        assert nothing.data() is None


def _view(qtbot, api: FakeApi) -> ReportsView:
    model = ConnectionsModel()
    model.set_connections([data.parsed("a"), data.parsed("b")])

    def fetch(cid: str, query: Any, cancel: Any) -> Any:
        return api.report_bytes(
            cid, account=query.account, since=query.since, until=query.until, level=query.level
        )

    view = ReportsView(model, fetch, None)
    qtbot.addWidget(view)
    view.show()
    return view


def _load(qtbot, view: ReportsView) -> dict[str, Any]:
    with qtbot.waitSignal(view.report_loaded, timeout=5000):
        view.load_button.click()
    qtbot.waitUntil(lambda: view.settled, timeout=5000)
    report = view.table.model.report
    assert report is not None
    return report


def test_a_replaced_report_is_freed_and_nothing_in_use_is_touched(qtbot) -> None:
    api = FakeApi()
    view = _view(qtbot, api)
    view.connection_box.setCurrentIndex(view.connection_box.findData("a"))
    first_a = _load(qtbot, view)
    first_rows = weakref.ref(_rows(view))
    view.connection_box.setCurrentIndex(view.connection_box.findData("b"))
    _load(qtbot, view)
    only_b = _rows(view)
    view.connection_box.setCurrentIndex(view.connection_box.findData("a"))
    qtbot.waitUntil(lambda: view.table.model.report is first_a, timeout=5000)
    rows_shown = view.table.model.rowCount()
    api.report_rows = 20
    second_a = _load(qtbot, view)
    assert second_a is not first_a
    # The replaced columns go at once: no cycle holds them (the collector is not needed).
    qtbot.waitUntil(lambda: first_rows() is None, timeout=5000)
    assert rows_shown == 14
    assert view.table.model.rowCount() == 20  # the new one, intact
    assert only_b.count == 14  # another connection's report is left alone
    assert view.loader.last("b") is not None


def _rows(view: ReportsView) -> columnar.ColumnarRows:
    rows, _order = view.table.model.snapshot()
    assert rows is not None
    return rows


def test_a_reload_keeps_the_column_widths_the_user_chose(qtbot) -> None:
    view = _view(qtbot, FakeApi())
    _load(qtbot, view)
    table = view.table.table
    spend = view.table.model.column_of("spend")
    fitted = table.columnWidth(spend)
    assert fitted >= table.fontMetrics().horizontalAdvance(view.table.model.display_text(0, spend))
    table.setColumnWidth(spend, fitted + 57)
    _load(qtbot, view)
    assert table.columnWidth(spend) == fitted + 57
    # Other columns (another level) are fitted anew.
    view.level_box.setCurrentIndex(view.level_box.findData("campaign"))
    _load(qtbot, view)
    assert table.columnWidth(view.table.model.column_of("spend")) != fitted + 57
