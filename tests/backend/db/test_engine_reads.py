"""db.engine: only SQLite in WAL mode may serve reads on the event loop (reads_never_wait), and
read_one answers as SQLAlchemy does, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from backend.db.engine import make_engine, read_one, reads_never_wait
from backend.db.migrate import upgrade
from backend.db.models import Connection, User
from backend.reports.service import _OWNED
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


@pytest.fixture
def owned(database_url: str, tmp_path: Path) -> Iterator[tuple[Engine, str, str]]:
    """An engine on a migrated database with a user's connection: (engine, user id, its id)."""
    engine = make_engine(database_url)
    upgrade(engine)
    with Session(engine) as s, s.begin():
        user = User(email="reads@example.test", password_hash="x")
        s.add(user)
        s.flush()
        conn = Connection(
            user_id=user.id, provider="demo", subject="p-1", display_name="Reads",
            accounts=[{"id": "act_1", "name": "Main"}], token_version=3,
            access_expires_at=datetime(2026, 12, 7, 12, 0, tzinfo=UTC),
        )  # fmt: skip
        s.add(conn)
        s.flush()
        ids = (user.id, conn.id)
    yield engine, *ids
    engine.dispose()


def test_read_one_gives_the_row_with_its_types_and_sees_every_later_write(
    owned: tuple[Engine, str, str],
) -> None:
    """On SQLite read_one keeps a raw connection per thread (the report path's owner check):
    it must answer as SQLAlchemy would, and never from an old snapshot."""
    engine, user_id, conn_id = owned
    row = read_one(engine, _OWNED, {"cid": conn_id, "uid": user_id})
    assert (row.id, row.status, row.token_version) == (conn_id, "connected", 3)
    assert row.revocation_pending is False
    assert row.access_expires_at == datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert row.accounts == [{"id": "act_1", "name": "Main"}]
    assert read_one(engine, _OWNED, {"cid": conn_id, "uid": "someone-else"}) is None
    for status in ("needs_reconnect", "disconnected"):
        with engine.begin() as db:  # another connection writes
            db.execute(update(Connection).where(Connection.id == conn_id).values(status=status))
        assert read_one(engine, _OWNED, {"cid": conn_id, "uid": user_id}).status == status


def test_read_one_fails_as_sqlalchemy_does(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")  # no tables
    with pytest.raises(OperationalError):
        read_one(engine, _OWNED, {"cid": "c", "uid": "u"})
    upgrade(engine)  # the failed connection was dropped; the next read works
    assert read_one(engine, _OWNED, {"cid": "c", "uid": "u"}) is None
    engine.dispose()
