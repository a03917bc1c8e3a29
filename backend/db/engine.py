"""Engines for SQLite (WAL, immediate-lock transactions) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import sqlite3
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Select, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
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


def read_one(engine: Engine, statement: Select[Any], params: dict[str, Any]) -> Any:
    """The one row (or None) of a single SELECT, with the attributes of a Core row.

    On SQLite (the hot path: the report's owner check, bench/backend_overhead.py) it runs
    on a connection the calling thread keeps, compiled once, in autocommit: one statement
    reads one consistent snapshot by itself. The BEGIN/ROLLBACK around it, the pool checkout
    and SQLAlchemy's execution cost several times the read. Errors are SQLAlchemy's."""
    if engine.dialect.name != "sqlite":
        with engine.connect() as conn:
            return conn.execute(statement, params).one_or_none()
    readers = engine.__dict__.get("_ca_readers")
    if readers is None:
        readers = engine.__dict__.setdefault("_ca_readers", _Readers(engine))
    return readers.read_one(statement, params)


@dataclass(frozen=True)
class _Prepared:
    sql: str
    order: tuple[str, ...]
    row: Callable[..., Any]
    processors: tuple[Callable[[Any], Any] | None, ...]


class _Readers:
    """Per engine: one raw connection per thread that reads, and the statements compiled."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self._lock = threading.Lock()
        self._held: list[Any] = []
        # id -> (the statement, kept alive so that its id is not reused; compiled)
        self._prepared: dict[int, tuple[Select[Any], _Prepared]] = {}
        event.listen(engine, "engine_disposed", lambda _: self.close())

    def _prepare(self, statement: Select[Any]) -> _Prepared:
        known = self._prepared.get(id(statement))
        if known is not None and known[0] is statement:
            return known[1]
        dialect = self._engine.dialect
        compiled = statement.compile(dialect=dialect)
        columns = list(statement.selected_columns)
        prepared = _Prepared(
            str(compiled),
            tuple(compiled.positiontup or ()),
            namedtuple("Row", [c.key for c in columns], rename=True),  # type: ignore[misc]
            tuple(c.type._cached_result_processor(dialect, None) for c in columns),
        )
        self._prepared[id(statement)] = (statement, prepared)
        return prepared

    def read_one(self, statement: Select[Any], params: dict[str, Any]) -> Any:
        prepared = self._prepare(statement)
        values = [params[k] for k in prepared.order]
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._engine.raw_connection()
            with self._lock:
                self._held.append(conn)
            self._local.conn = conn
        driver = conn.driver_connection
        assert driver is not None
        try:
            # fetchall: the statement runs to its end, so its read snapshot ends with it.
            rows = driver.execute(prepared.sql, values).fetchall()
        except sqlite3.Error as exc:
            self._local.conn = None  # a fresh connection next time
            with self._lock:
                self._held.remove(conn)
            conn.invalidate()
            raise DBAPIError.instance(prepared.sql, values, exc, sqlite3.Error) from exc
        if not rows:
            return None
        return prepared.row(
            *(v if f is None else f(v) for f, v in zip(prepared.processors, rows[0], strict=True))
        )

    def close(self) -> None:
        with self._lock:
            held, self._held = self._held, []
        for conn in held:
            conn.close()


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
