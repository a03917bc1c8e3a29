"""Local cache of the connection list and the last few reports per connection (SQLite, no secrets).

Shown at once on the next start, before the backend answers, and marked "cached". Only what the
backend already sends the desktop is stored: connection status and report rows, never a token.
Calls touch the disk: run them through `desktop.concurrency.tasks.run_in_background`.

Python's own `sqlite3`, not SQLAlchemy: the cache is a few tables and fixed statements, and
importing SQLAlchemy before the first paint cost the window half a second and 35 MiB
(bench/cold_start.py). The file layout is the one the SQLAlchemy version wrote, so an existing
cache keeps working.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from desktop.concurrency import sliced_json

CACHE_FILE = "cache.sqlite3"
REPORTS_KEPT = 8
"""Reports kept per connection: switching back to a recent query shows it at once."""

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS connections (
        scope VARCHAR NOT NULL,   -- which backend: its URL or "embedded"
        id VARCHAR NOT NULL,
        position INTEGER NOT NULL,
        body TEXT NOT NULL,
        saved_at DATETIME NOT NULL,
        PRIMARY KEY (scope, id))""",
    """CREATE TABLE IF NOT EXISTS reports (
        scope VARCHAR NOT NULL,
        connection_id VARCHAR NOT NULL,
        body TEXT NOT NULL,
        saved_at DATETIME NOT NULL,
        PRIMARY KEY (scope, connection_id))""",
    # The last REPORTS_KEPT reports per connection, one per query (desktop/models/report_query.py
    # ReportQuery.key). The older one-per-connection table above is still read as a fallback.
    """CREATE TABLE IF NOT EXISTS query_reports (
        scope VARCHAR NOT NULL,
        connection_id VARCHAR NOT NULL,
        query_key VARCHAR NOT NULL,
        body TEXT NOT NULL,
        saved_at DATETIME NOT NULL,
        PRIMARY KEY (scope, connection_id, query_key))""",
    # Expiry warnings already sent: one per connection per lapse date (desktop/app/expiry_watch.py).
    """CREATE TABLE IF NOT EXISTS notices (
        scope VARCHAR NOT NULL,
        key VARCHAR NOT NULL,
        sent_at DATETIME NOT NULL,
        PRIMARY KEY (scope, key))""",
)


class _Preload:
    """One read of the saved list on a thread of its own: what it read, or what it raised. (A
    `concurrent.futures.Future` would do; importing that package before the first paint costs
    more than this.)"""

    def __init__(self) -> None:
        self._finished = threading.Event()
        self._rows: list[dict[str, Any]] = []
        self._error: BaseException | None = None

    def run(self, read: Callable[[], list[dict[str, Any]]]) -> None:
        try:
            self._rows = read()
        except BaseException as exc:  # handed to load_connections' caller
            self._error = exc
        finally:
            self._finished.set()

    def done(self) -> bool:
        return self._finished.is_set()

    def failed(self) -> bool:
        return self._error is not None

    def result(self) -> list[dict[str, Any]]:
        """What the read returned; waits for it, and raises what it raised."""
        self._finished.wait()
        if self._error is not None:
            raise self._error
        return self._rows


class Cache:
    """One SQLite file; `scope` keeps two backends' data apart."""

    def __init__(self, path: Path, scope: str) -> None:
        self.path = path
        self.scope = scope
        # One connection, used by one worker thread at a time: SQLite connections must not be
        # shared concurrently, and writers queue here rather than hit "database is locked".
        self._lock = threading.Lock()
        self._db_: sqlite3.Connection | None = None
        self._preloaded: _Preload | None = None

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        # Opened on first use, which is on a worker thread: constructing a Cache touches no disk.
        with self._lock:
            if self._db_ is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(
                    self.path, timeout=5.0, isolation_level=None, check_same_thread=False
                )
                for statement in _SCHEMA:
                    db.execute(statement)
                self._db_ = db
            yield self._db_

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it or none of it."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def save_connections(self, items: list[dict[str, Any]]) -> None:
        """Replace the cached list with `items` (in this order)."""
        now = _now()
        rows = [
            (self.scope, str(item["id"]), i, sliced_json.dumps(item), now)
            for i, item in enumerate(items)
        ]
        ids = [str(item["id"]) for item in items]
        self._preloaded = None  # a list read before this save is out of date
        with self._writing() as db:
            db.execute("DELETE FROM connections WHERE scope = ?", (self.scope,))
            db.executemany(
                "INSERT INTO connections (scope, id, position, body, saved_at) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            # Reports of connections that are gone are dropped with them.
            kept = ",".join("?" * len(ids))
            for table in ("reports", "query_reports"):
                db.execute(
                    f"DELETE FROM {table} WHERE scope = ? AND connection_id NOT IN ({kept})",  # noqa: S608 - placeholders only
                    (self.scope, *ids),
                )

    def preload_connections(self) -> None:
        """Start reading the saved list on a thread of its own now, while the window is still
        being built; the next `load_connections` returns what it read (bench/cold_start.py:
        the list is then in the model by the window's first paint, not one paint later)."""
        preload = _Preload()
        self._preloaded = preload
        threading.Thread(
            target=preload.run, args=(self._read_connections,), name="cache-preload", daemon=True
        ).start()

    def preloaded_connections(self) -> list[dict[str, Any]] | None:
        """What `preload_connections` read, if it has finished reading (never waits); else None,
        and `load_connections` waits for it on a worker."""
        preload = self._preloaded
        if preload is None or not preload.done() or preload.failed():
            return None
        self._preloaded = None
        return preload.result()

    @property
    def preload_finished(self) -> bool:
        """True once a `preload_connections` read has ended (or none is pending)."""
        return self._preloaded is None or self._preloaded.done()

    def load_connections(self) -> list[dict[str, Any]]:
        """The saved list, in order (what `preload_connections` read, if it was called)."""
        preloaded, self._preloaded = self._preloaded, None
        if preloaded is not None:
            return preloaded.result()
        return self._read_connections()

    def _read_connections(self) -> list[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute(
                "SELECT body FROM connections WHERE scope = ? ORDER BY position", (self.scope,)
            ).fetchall()
        return [sliced_json.loads(body) for (body,) in rows]

    def save_report(self, connection_id: str, report: dict[str, Any], query_key: str = "") -> None:
        """Keep `report` as the one of `connection_id` for `query_key` (the newest
        REPORTS_KEPT queries per connection are kept)."""
        # In slices: a 100k-row report never holds the GIL long.
        self.save_report_bytes(connection_id, sliced_json.dumps(report).encode(), query_key)

    def save_report_bytes(self, connection_id: str, body: bytes, query_key: str = "") -> None:
        """`save_report` with the report's JSON as the backend sent it (the window keeps those
        bytes as they came: nothing to encode, and the write lets go of the GIL)."""
        with self._writing() as db:
            db.execute(
                "INSERT OR REPLACE INTO query_reports "
                "(scope, connection_id, query_key, body, saved_at) VALUES (?, ?, ?, ?, ?)",
                (self.scope, connection_id, query_key, body, _now()),
            )
            # Oldest first out; rowid breaks ties of equal timestamps (newer rows, higher ids).
            db.execute(
                "DELETE FROM query_reports WHERE scope = ? AND connection_id = ? AND rowid NOT IN "
                "(SELECT rowid FROM query_reports WHERE scope = ? AND connection_id = ? "
                "ORDER BY saved_at DESC, rowid DESC LIMIT ?)",
                (self.scope, connection_id, self.scope, connection_id, REPORTS_KEPT),
            )

    def load_report(
        self, connection_id: str, query_key: str | None = None
    ) -> dict[str, Any] | None:
        """The report cached for `query_key`, or with no key the newest one of the connection."""
        body = self.load_report_bytes(connection_id, query_key)
        report = sliced_json.loads(body) if body is not None else None
        return report if isinstance(report, dict) else None

    def load_report_bytes(self, connection_id: str, query_key: str | None = None) -> bytes | None:
        """`load_report`'s JSON, undecoded."""
        with self._db() as db:
            if query_key is None:
                row = db.execute(
                    "SELECT body FROM query_reports WHERE scope = ? AND connection_id = ? "
                    "ORDER BY saved_at DESC, rowid DESC LIMIT 1",
                    (self.scope, connection_id),
                ).fetchone()
                if row is None:  # a cache written before reports were kept per query
                    row = db.execute(
                        "SELECT body FROM reports WHERE scope = ? AND connection_id = ?",
                        (self.scope, connection_id),
                    ).fetchone()
            else:
                row = db.execute(
                    "SELECT body FROM query_reports "
                    "WHERE scope = ? AND connection_id = ? AND query_key = ?",
                    (self.scope, connection_id, query_key),
                ).fetchone()
        if row is None:
            return None
        body = row[0]  # text written by earlier versions, bytes since
        return body.encode() if isinstance(body, str) else bytes(body)

    def load_report_bytes_or_newest(
        self, connection_id: str, query_key: str
    ) -> tuple[str | None, bytes | None]:
        """(key, JSON) of this query's cached report, else (None, the newest one's)."""
        body = self.load_report_bytes(connection_id, query_key)
        if body is not None:
            return query_key, body
        return None, self.load_report_bytes(connection_id)

    def report_keys(self, connection_id: str) -> list[str]:
        """The queries with a cached report, newest first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT query_key FROM query_reports WHERE scope = ? AND connection_id = ? "
                "ORDER BY saved_at DESC, rowid DESC",
                (self.scope, connection_id),
            ).fetchall()
        return [key for (key,) in rows]

    def forget(self, connection_id: str) -> None:
        """Drop a disconnected connection and its report."""
        with self._writing() as db:
            db.execute(
                "DELETE FROM connections WHERE scope = ? AND id = ?", (self.scope, connection_id)
            )
            for table in ("reports", "query_reports"):
                db.execute(
                    f"DELETE FROM {table} WHERE scope = ? AND connection_id = ?",  # noqa: S608 - fixed names
                    (self.scope, connection_id),
                )

    def claim_notice(self, key: str) -> bool:
        """Record that the notice `key` goes out now; False when it went out before (by this
        or another window: the insert is the test, so two processes never both send it)."""
        with self._writing() as db:
            done = db.execute(
                "INSERT OR IGNORE INTO notices (scope, key, sent_at) VALUES (?, ?, ?)",
                (self.scope, key, _now()),
            )
            return done.rowcount == 1

    def close(self) -> None:
        with self._lock:
            if self._db_ is not None:
                self._db_.close()
                self._db_ = None


def _now() -> str:
    """UTC, in the layout SQLAlchemy's DateTime used for this file."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
