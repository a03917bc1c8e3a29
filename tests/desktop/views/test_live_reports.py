"""The Reports window's options (issue 16) in the real ReportsView, against the REAL local
companion service with Demo Ads: level, breakdown, daily/total, compare, several accounts,
the filter box, the top-N chart and the per-query cache."""

# ruff: noqa: F811 - the fixtures come from test_live_backend and are named as parameters
from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QLocale

from desktop.models.chart_top import OTHER, TOP_N
from desktop.models.report_query import ALL_ACCOUNTS
from desktop.views.reports import ReportsView
from tests.desktop.app.test_live_backend import (  # noqa: F401 - the fixtures
    Gui,
    backend,
    connected,
    gui,
)
from tests.desktop.app.test_live_backend import backend_env as plain_backend_env
from tests.desktop.support import data


@pytest.fixture(scope="module")
def backend_env(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, str]]:
    """test_live_backend's folders, plus a config that asks Demo Ads for its 100-campaign
    benchmark account (act_1099): users never see it, this module's chart test needs it."""
    config = tmp_path_factory.mktemp("sandbox-config") / "backend.toml"
    config.write_text("[sandbox]\nbenchmark_account = true\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONNECTED_ACCOUNTS_CONFIG", str(config))
        yield from plain_backend_env.__wrapped__(tmp_path_factory)  # type: ignore[attr-defined]


def _open(gui: Gui, connection: dict[str, Any]) -> ReportsView:
    gui.attach()
    reports = gui.window.reports
    reports.show_connection(connection["id"])
    gui.qtbot.waitUntil(lambda: reports.settled, timeout=20_000)
    reports.preset_box.setCurrentText("Last 7 days")
    return reports


def _load(gui: Gui, reports: ReportsView) -> dict[str, Any]:
    with gui.qtbot.waitSignal(reports.report_loaded, timeout=30_000):
        reports.load_button.click()
    gui.qtbot.waitUntil(lambda: reports.settled, timeout=30_000)
    return data.whole(reports.table.model)


def _choose(box: Any, key: str) -> None:
    index = box.findData(key)
    assert index >= 0, key
    box.setCurrentIndex(index)


def test_level_breakdown_and_total_reach_the_backend(gui: Gui, connected, qtmodeltester) -> None:
    reports = _open(gui, connected)
    _choose(reports.level_box, "adset")
    _choose(reports.options.time_box, "total")
    reports.options.breakdown_actions["country"].setChecked(True)
    assert reports.options.breakdown_button.text() == "By Country"
    report = _load(gui, reports)
    keys = [c["key"] for c in report["columns"]]
    assert report["level"] == "adset"
    assert {"campaign_name", "adset_id", "adset_name", "country"} <= set(keys)
    assert "date" not in keys  # one row per ad set and country, not per day
    pairs = [(r[keys.index("adset_id")], r[keys.index("country")]) for r in report["rows"]]
    assert len(pairs) == len(set(pairs)) == reports.table.model.rowCount() > 0
    for model in (reports.table.model, reports.table.proxy, reports.table.totals_model):
        qtmodeltester.check(model)
    assert "Ad set" in reports.query().describe()
    assert "Country" in reports.query().describe()


def test_compare_shows_each_change_with_arrow_sign_and_colour(gui: Gui, connected) -> None:
    reports = _open(gui, connected)
    _choose(reports.options.compare_box, "previous_period")
    report = _load(gui, reports)
    assert report["comparison"]["change"]
    summary = reports.summary
    assert summary.isVisibleTo(reports)
    assert {c.key for c in summary.changes} == set(report["comparison"]["change"])
    for change in summary.changes:
        value = report["comparison"]["change"][change.key]
        if value is None:
            assert change.text == "– no base"
            continue
        pct = float(value) * 100
        if round(pct, 1) > 0:
            assert change.text.startswith("▲ +")
            assert change.direction == 1
        elif round(pct, 1) < 0:
            assert change.text.startswith("▼ −")
            assert change.direction == -1
        assert change.text.endswith(" %")
        assert f"{abs(pct):.1f}" in change.text
        # Colour repeats what arrow and sign say; it is in the label next to the text.
        assert f"color:{change.colour}" in summary.changes_label.text()
    assert len({c.colour for c in summary.changes if c.direction}) == len(
        {c.direction for c in summary.changes if c.direction}
    )
    assert f"Compared with {report['comparison']['since']}" in summary.changes_label.text()


def test_all_accounts_shows_totals_per_currency(gui: Gui, connected) -> None:
    reports = _open(gui, connected)
    _choose(reports.account_box, ALL_ACCOUNTS)
    assert reports.query().all_accounts
    report = _load(gui, reports)
    keys = [c["key"] for c in report["columns"]]
    assert {"account_id", "currency"} <= set(keys)
    currencies = set(report["totals_by_currency"])
    assert len(currencies) > 1
    shown = reports.summary.currencies_label.text()
    assert reports.summary.currencies_label.isVisibleTo(reports)
    for currency in currencies:
        assert f"{currency}: " in shown
    assert reports.status_label.text().startswith("All accounts · ")
    assert {r[keys.index("account_id")] for r in report["rows"]} == {
        a["id"] for a in report["accounts"]
    }


def test_changing_an_option_marks_stale_and_each_query_is_cached(gui: Gui, connected) -> None:
    reports = _open(gui, connected)
    _choose(reports.level_box, "campaign")
    daily_rows = len(_load(gui, reports)["rows"])  # (a replaced report's rows are freed)
    assert not reports.stale
    _choose(reports.options.time_box, "total")
    assert reports.stale
    assert "Options changed" in reports.status_label.text()
    total = _load(gui, reports)
    assert not reports.stale
    assert "date" not in [c["key"] for c in total["columns"]]
    gui.qtbot.waitUntil(lambda: len(gui.cache.report_keys(connected["id"])) >= 2)
    # Back to daily: the daily report comes from the cache at once, for that query.
    _choose(reports.options.time_box, "daily")
    gui.qtbot.waitUntil(lambda: reports.cached and not reports.stale, timeout=10_000)
    assert reports.table.model.rowCount() == daily_rows > 0
    assert reports.shown_key == reports.query().key()


def test_filter_box_keeps_matching_rows_and_export_writes_them(
    gui: Gui, connected, tmp_path: Path, qtmodeltester
) -> None:
    reports = _open(gui, connected)
    _choose(reports.level_box, "campaign")
    report = _load(gui, reports)
    name_at = reports.table.model.column_of("campaign_name")
    names = sorted({row[name_at] for row in report["rows"]})
    assert len(names) > 1
    # Unfiltered, the table shows the model itself (no per-row filter calls on 100,000 rows).
    assert reports.table.table.model() is reports.table.model
    reports.metric_actions["cpm"].setChecked(False)
    cpm = reports.table.model.column_of("cpm")
    reports.filter_edit.setText(names[0].upper()[2:8])  # any case, part of the name
    assert reports.table.table.model() is reports.table.proxy
    assert reports.table.table.isColumnHidden(cpm)  # the hidden column stays hidden
    proxy = reports.table.proxy
    shown = {proxy.index(r, name_at).data() for r in range(proxy.rowCount())}
    assert 0 < proxy.rowCount() < len(report["rows"])
    assert all(names[0].upper()[2:8] in name.upper() for name in shown)
    qtmodeltester.check(proxy)
    assert f"{proxy.rowCount():,} of {len(report['rows']):,} rows" in reports.status_label.text()
    target = tmp_path / reports.suggested_file_name()
    assert connected["accounts"][0]["id"] in target.name
    with gui.qtbot.waitSignal(reports.export_finished, timeout=10_000):
        reports.export_to(target)
    lines = list(csv.reader(target.open(encoding="utf-8")))
    assert len(lines) == proxy.rowCount() + 1
    assert "cpm" not in lines[0]
    reports.filter_edit.clear()
    assert reports.table.table.model() is reports.table.model
    assert reports.table.table.isColumnHidden(cpm)
    assert proxy.rowCount() == len(report["rows"])


def test_chart_has_a_series_per_top_campaign_and_a_formatted_axis(gui: Gui, connected) -> None:
    QLocale.setDefault(QLocale(QLocale.Language.English, QLocale.Country.UnitedStates))
    try:
        reports = _open(gui, connected)
        benchmark = reports.account_box.findData("act_1099")  # 100 campaigns, in USD
        assert benchmark >= 0
        reports.account_box.setCurrentIndex(benchmark)
        _choose(reports.level_box, "campaign")
        reports.preset_box.setCurrentText("Last 30 days")
        report = _load(gui, reports)
        chart = reports.chart
        gui.qtbot.waitUntil(lambda: not chart.busy, timeout=20_000)
        names = chart.series_names()
        assert len(names) == TOP_N + 1
        assert names[-1] == OTHER
        # The top series are the campaigns with the most spend, in that order.
        keys = [c["key"] for c in report["columns"]]
        spend: dict[str, float] = {}
        for row in report["rows"]:
            name = row[keys.index("campaign_name")]
            spend[name] = spend.get(name, 0.0) + float(row[keys.index("spend")])
        assert names[:TOP_N] == sorted(spend, key=lambda n: -spend[n])[:TOP_N]
        labels = chart.axis_labels()
        assert labels[0] == "$0"
        assert all(label.startswith("$") for label in labels)
        assert any("," in label for label in labels)  # thousands separators
    finally:
        QLocale.setDefault(QLocale.c())
