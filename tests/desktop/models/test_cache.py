"""The local cache (desktop/models/cache.py): no secrets, per backend."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from desktop.models.cache import Cache
from tests.desktop.support import data

OLD_LAYOUT = """
CREATE TABLE connections (
    scope VARCHAR NOT NULL, id VARCHAR NOT NULL, position INTEGER NOT NULL,
    body TEXT NOT NULL, saved_at DATETIME NOT NULL, PRIMARY KEY (scope, id)
);
CREATE TABLE reports (
    scope VARCHAR NOT NULL, connection_id VARCHAR NOT NULL, body TEXT NOT NULL,
    saved_at DATETIME NOT NULL, PRIMARY KEY (scope, connection_id)
);
"""


def test_cache_keeps_the_list_and_last_report_per_connection(tmp_cache_path: Path) -> None:
    cache = Cache(tmp_cache_path, "embedded")
    cache.save_connections([data.connection("a"), data.connection("b")])
    cache.save_report("a", data.report(3))
    cache.save_report("a", data.report(5))
    again = Cache(tmp_cache_path, "embedded")
    assert [c["id"] for c in again.load_connections()] == ["a", "b"]
    report = again.load_report("a")
    assert report is not None
    assert len(report["rows"]) == 5
    assert again.load_report("b") is None
    assert Cache(tmp_cache_path, "https://other.example").load_connections() == []
    cache.close()
    again.close()


def test_cache_drops_reports_of_removed_connections(tmp_cache_path: Path) -> None:
    cache = Cache(tmp_cache_path, "embedded")
    cache.save_connections([data.connection("a"), data.connection("b")])
    cache.save_report("b", data.report(2))
    cache.save_connections([data.connection("a")])
    assert cache.load_report("b") is None
    cache.forget("a")
    assert cache.load_connections() == []
    cache.close()


def test_a_cache_file_written_by_the_sqlalchemy_version_still_loads(tmp_cache_path: Path) -> None:
    """The layout and text (`json.dumps` with spaces) that desktop/models/cache.py wrote through
    SQLAlchemy until the cold-start fix: an upgrade must not lose last run's view."""
    tmp_cache_path.parent.mkdir(parents=True)
    db = sqlite3.connect(tmp_cache_path)
    db.executescript(OLD_LAYOUT)
    db.execute(
        "INSERT INTO connections VALUES ('embedded', 'a', 0, ?, '2026-11-29 05:47:50.217684')",
        (json.dumps(data.connection("a")),),
    )
    db.execute(
        "INSERT INTO reports VALUES ('embedded', 'a', ?, '2026-11-29 05:47:50.217684')",
        (json.dumps(data.report(3)),),
    )
    db.commit()
    db.close()
    cache = Cache(tmp_cache_path, "embedded")
    assert [c["id"] for c in cache.load_connections()] == ["a"]
    report = cache.load_report("a")
    assert report is not None
    assert [list(row) for row in report["rows"]] == data.report(3)["rows"]
    cache.save_report("a", data.report(4))
    report = cache.load_report("a")
    assert report is not None
    assert len(report["rows"]) == 4
    cache.close()


def test_a_failed_write_leaves_the_previous_list(tmp_cache_path: Path) -> None:
    cache = Cache(tmp_cache_path, "embedded")
    cache.save_connections([data.connection("a")])
    with pytest.raises(KeyError):
        cache.save_connections([data.connection("b"), {"no": "id"}])
    assert [c["id"] for c in cache.load_connections()] == ["a"]
    cache.close()


def test_constructing_a_cache_touches_no_disk(tmp_path: Path) -> None:
    Cache(tmp_path / "sub" / "cache.sqlite3", "embedded")
    assert not (tmp_path / "sub").exists()


def test_a_preloaded_list_is_what_the_next_load_returns(tmp_cache_path: Path) -> None:
    cache = Cache(tmp_cache_path, "embedded")
    cache.save_connections([data.connection("a")])
    cache.preload_connections()
    assert [c["id"] for c in cache.load_connections()] == ["a"]
    # Used once: later loads read the file again.
    cache.save_connections([data.connection("a"), data.connection("b")])
    assert [c["id"] for c in cache.load_connections()] == ["a", "b"]
    cache.close()


def test_a_save_after_the_preload_outdates_it(tmp_cache_path: Path) -> None:
    cache = Cache(tmp_cache_path, "embedded")
    cache.save_connections([data.connection("a")])
    cache.preload_connections()
    cache.save_connections([data.connection("b")])
    assert [c["id"] for c in cache.load_connections()] == ["b"]
    cache.close()


def test_a_preload_of_an_unreadable_file_fails_the_load(tmp_cache_path: Path) -> None:
    tmp_cache_path.parent.mkdir(parents=True)
    tmp_cache_path.write_bytes(b"not a database" * 100)
    cache = Cache(tmp_cache_path, "embedded")
    cache.preload_connections()
    with pytest.raises(sqlite3.DatabaseError):
        cache.load_connections()
    cache.close()


def test_cache_keeps_several_reports_per_connection_keyed_by_query(tmp_cache_path: Path) -> None:
    from datetime import date

    from desktop.models.cache import REPORTS_KEPT
    from desktop.models.report_query import ReportQuery

    cache = Cache(tmp_cache_path, "embedded")
    daily = ReportQuery(since=date(2026, 11, 1), until=date(2026, 11, 7), level="campaign")
    total = daily.with_(time="total", breakdowns=("country",))
    assert daily.key() != total.key()
    cache.save_report("a", data.report(7, level="campaign"), daily.key())
    cache.save_report("a", data.report(3, level="account"), total.key())
    # Both queries stay cached, each under its own key; no key means the newest.
    assert len(cache.load_report("a", daily.key())["rows"]) == 7  # type: ignore[index]
    assert len(cache.load_report("a", total.key())["rows"]) == 3  # type: ignore[index]
    assert len(cache.load_report("a")["rows"]) == 3  # type: ignore[index]
    assert cache.report_keys("a") == [total.key(), daily.key()]
    # Only the newest REPORTS_KEPT queries of a connection are kept.
    for days in range(1, REPORTS_KEPT + 1):
        cache.save_report("a", data.report(days), daily.with_(since=date(2026, 10, days)).key())
    assert len(cache.report_keys("a")) == REPORTS_KEPT
    assert cache.load_report("a", daily.key()) is None
    cache.forget("a")
    assert cache.load_report("a") is None
