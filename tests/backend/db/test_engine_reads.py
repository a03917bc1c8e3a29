"""db.engine.reads_never_wait: only SQLite in WAL mode may serve reads on the event loop."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine

from backend.db.engine import make_engine, reads_never_wait
from tests.support import pg


def test_a_sqlite_file_runs_in_wal_and_its_reads_never_wait(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert reads_never_wait(engine)
    engine.dispose()


def test_sqlite_without_wal_reads_on_a_worker(tmp_path: Path) -> None:
    # A rollback journal (what SQLite falls back to where WAL is not possible): readers wait out
    # a writer, so they must not run on the event loop.
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert not reads_never_wait(engine)
    engine.dispose()


@pytest.mark.postgres
def test_postgresql_reads_on_a_worker() -> None:
    url = pg.create_database()
    try:
        engine = make_engine(url)
        assert not reads_never_wait(engine)
        engine.dispose()
    finally:
        pg.drop_database(url)
