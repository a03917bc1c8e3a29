"""Engines for SQLite (WAL, immediate-lock transactions) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def normalize_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` and use psycopg 3 for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            # A pool big enough for the worker threads: reopening one reruns the pragmas.
            kwargs.setdefault("pool_size", 20)
            kwargs.setdefault("max_overflow", 20)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            # Let SQLAlchemy issue BEGIN itself (pysqlite's implicit BEGIN is deferred, which
            # would make the refresh lock a no-op); see `begin_immediate`.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            mode = conn.info.pop("sqlite_begin", "BEGIN")
            if mode:  # "": one statement that is its own transaction (see `read_one`)
                conn.exec_driver_sql(mode)

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


@contextmanager
def locked_transaction(engine: Engine) -> Iterator[Session]:
    """A session whose transaction takes the write lock at BEGIN on SQLite.

    SQLAlchemy drops `with_for_update()` silently on SQLite, so there the refresh lock is
    `BEGIN IMMEDIATE`; on PostgreSQL callers add `.with_for_update()` to their SELECT.
    Commits when the block ends normally, rolls back on an exception.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.info["sqlite_begin"] = "BEGIN IMMEDIATE"
        with conn.begin(), Session(bind=conn, expire_on_commit=False) as session:
            yield session
            session.flush()


def read_one(engine: Engine, statement: Any, params: dict[str, Any]) -> Any:
    """The one row (or None) of a single SELECT. On SQLite it runs without BEGIN/ROLLBACK
    around it: one statement reads one consistent snapshot by itself (autocommit), and the
    two extra statements cost as much as the read (bench/backend_overhead.py)."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.info["sqlite_begin"] = ""
        return conn.execute(statement, params).one_or_none()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def reads_never_wait(engine: Engine) -> bool:
    """True for SQLite in WAL mode: a reader then never waits for a writer's lock, so reading
    one row by key takes tens of microseconds and may run on the event loop itself (cheaper
    than handing it to a worker thread; bench/backend_overhead.py). False for PostgreSQL (a
    network round trip) and for SQLite that could not switch to WAL (its readers wait out a
    writer, up to the busy timeout)."""
    if engine.dialect.name != "sqlite":
        return False
    with engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    return str(mode).lower() == "wal"
