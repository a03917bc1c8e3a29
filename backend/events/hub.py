"""One process's open event streams, fed from the database (design: nothing only one process
knows). SQLite: one poller per process reads the events table for ids above the last one seen
(cheap: a primary-key range scan, and only while a stream is open). PostgreSQL: one psycopg 3
async connection per process LISTENs; each NOTIFY names a committed event row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from typing import Any, Final, Protocol

import anyio.to_thread
import psycopg
from sqlalchemy import Engine, Row

from backend.events.record import CHANNEL, event_json, events_after, events_by_ids, latest_id

log = logging.getLogger(__name__)

# A stream this far behind is ended: its client reconnects and re-reads the list.
MAX_QUEUED: Final = 1000
LISTEN_WAIT_S: Final = 1.0
RECONNECT_MAX_S: Final = 5.0


class Subscription:
    """The events waiting for one open stream of one user."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.after = 0
        self.joined = math.inf
        """When it was subscribed (monotonic): a NOTIFY received before that is not for it."""
        """Events with ids up to this one committed before the stream opened (SQLite)."""
        self.ended = False
        self._items: deque[dict[str, Any]] = deque()
        self._ready = asyncio.Event()

    def push(self, event: dict[str, Any]) -> None:
        if len(self._items) >= MAX_QUEUED:
            log.warning("an event stream fell behind and was ended")
            self.end()
            return
        self._items.append(event)
        self._ready.set()

    def end(self) -> None:
        self.ended = True
        self._items.clear()
        self._ready.set()

    async def next(self, timeout: float) -> list[dict[str, Any]] | None:
        """The events waiting (an empty list once `timeout` passed); None once ended."""
        if not self._items and not self.ended:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout)
        self._ready.clear()
        if self.ended:
            return None
        items = list(self._items)
        self._items.clear()
        return items


class _Feed(Protocol):
    received_at: float
    """When the last batch's notifications arrived (monotonic; inf: not known, see cutoff)."""

    async def start(self) -> None:
        """Return once every change committed from now on will be seen."""

    async def cutoff(self) -> int:
        """For a stream joining now: the id up to which events predate it (0: unknown)."""

    async def next_batch(self) -> list[Row[Any]]:
        """New events, or [] after a short wait (so the hub notices when nobody listens)."""

    async def close(self) -> None: ...


class _Poller:
    """SQLite: poll for ids above the cursor. One writer at a time commits ids in order."""

    def __init__(self, engine: Engine, interval_s: float) -> None:
        self.received_at = math.inf  # the id cutoff sorts out what predates a stream
        self._engine = engine
        self._interval = interval_s
        self._cursor = 0

    async def start(self) -> None:
        self._cursor = await self.cutoff()

    async def cutoff(self) -> int:
        # The running poller's cursor may lag by one interval: without this, a stream opened
        # just now would get a change from before it opened, after its client read the list.
        return await anyio.to_thread.run_sync(latest_id, self._engine)

    async def next_batch(self) -> list[Row[Any]]:
        await asyncio.sleep(self._interval)
        rows = await anyio.to_thread.run_sync(events_after, self._engine, self._cursor)
        if rows:
            self._cursor = rows[-1].id
        return rows

    async def close(self) -> None:
        pass


class _Listener:
    """PostgreSQL: LISTEN on a psycopg 3 async connection; each NOTIFY payload is an event id.

    Ids are fetched by value, never as "above the last one": on PostgreSQL ids are taken at
    INSERT but commit in any order. A lost connection (a server restart) is reopened with
    backoff, and what committed meanwhile is caught up by id."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # libpq wants plain "postgresql://"; SQLAlchemy's URL names the driver too.
        url = engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._seen = 0
        self.received_at = 0.0

    async def _connect(self) -> None:
        conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        try:
            await conn.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def start(self) -> None:
        await self._connect()
        self._seen = await anyio.to_thread.run_sync(latest_id, self._engine)

    async def cutoff(self) -> int:
        # Ids do not commit in order here, so none can be ruled out; clients compare the
        # connection's `updated_at` to drop a snapshot older than what they hold.
        return 0

    async def next_batch(self) -> list[Row[Any]]:
        if self._conn is None:
            return await self._reconnect()
        ids: list[int] = []
        try:
            async for note in self._conn.notifies(timeout=LISTEN_WAIT_S, stop_after=1):
                with contextlib.suppress(ValueError):
                    ids.append(int(note.payload))
        except psycopg.Error as exc:
            log.warning("lost the database connection for live events: %s", type(exc).__name__)
            await self.close()
            return await self._reconnect()
        if not ids:
            return []
        # Stamped before the rows are fetched: a stream that subscribes meanwhile must not get
        # changes announced before it opened (its client reads the list after that).
        self.received_at = time.monotonic()
        rows = await anyio.to_thread.run_sync(events_by_ids, self._engine, ids)
        if rows:
            self._seen = max(self._seen, rows[-1].id)
        return rows

    async def _reconnect(self) -> list[Row[Any]]:
        delay = 0.25
        while True:
            try:
                await self._connect()
                break
            except psycopg.Error:
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
        self.received_at = time.monotonic()
        rows = await anyio.to_thread.run_sync(events_after, self._engine, self._seen)
        if rows:
            self._seen = rows[-1].id
        log.info("live events resumed (%d caught up)", len(rows))
        return rows

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                await conn.close()


class EventHub:
    """Subscribes streams by user and runs one feed while any stream is open."""

    def __init__(self, engine: Engine, *, poll_interval_s: float = 0.25) -> None:
        self._engine = engine
        self._poll_interval = poll_interval_s
        self._subs: set[Subscription] = set()
        self._lock: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None
        self._current: _Feed | None = None
        self._closed = False

    def _feed(self) -> _Feed:
        if self._engine.dialect.name == "postgresql":
            return _Listener(self._engine)
        return _Poller(self._engine, self._poll_interval)

    async def subscribe(self, user_id: str) -> Subscription:
        """A subscription that sees every event committed from now on."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            sub = Subscription(user_id)
            if self._closed:
                sub.end()
                return sub
            if self._running() and self._current is not None:
                sub.after = await self._current.cutoff()
            # Checked again after the await, with none before `add`: a feed that ended
            # meanwhile (its last stream closed) is replaced, never joined.
            if not self._running():
                sub.after = 0
                feed = self._current = self._feed()
                await feed.start()
                self._task = asyncio.create_task(self._run(feed), name="live-events")
            sub.joined = time.monotonic()
            self._subs.add(sub)
            return sub

    def _running(self) -> bool:
        return self._task is not None and not self._task.done()

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    @property
    def open_streams(self) -> int:
        return len(self._subs)

    async def _run(self, feed: _Feed) -> None:
        delay = 0.25
        try:
            while self._subs:
                try:
                    rows = await feed.next_batch()
                except Exception as exc:  # keep streams alive; the database may come back
                    log.warning("reading live events failed: %s", type(exc).__name__)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RECONNECT_MAX_S)
                    continue
                delay = 0.25
                for row in rows:
                    self._dispatch(row, feed.received_at)
            # No await between the check above and this: a subscriber arriving now starts
            # a fresh feed instead of joining one that is ending.
            if self._current is feed:
                self._task = self._current = None
        finally:
            await feed.close()

    def _dispatch(self, row: Row[Any], received_at: float) -> None:
        event = None
        for sub in list(self._subs):
            # Per-user isolation: only the owner's streams.
            if sub.user_id == row.user_id and row.id > sub.after and sub.joined < received_at:
                event = event or event_json(row)
                sub.push(event)

    def close(self) -> None:
        """End every stream (server shutdown: an open stream would hold it up for ever)."""
        self._closed = True
        for sub in list(self._subs):
            sub.end()
        self._subs.clear()
