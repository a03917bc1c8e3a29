"""Progress of a report the provider prepares asynchronously, told to the owner's event stream.

A provider adapter polling a report job (Meta's AdReportRun) calls `report(percent, status)`;
the report service sets who hears it (`reporting`) for the duration of one request. A context
variable rather than a parameter: the adapters' `fetch_report` signature stays the same for
every provider, and the value never leaks to another request (each runs in its own context).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final, Literal

Status = Literal["queued", "running", "done"]
Listener = Callable[[int, Status], Awaitable[None]]

_listener: ContextVar[Listener | None] = ContextVar("report_progress", default=None)

# Meta's async_status values (Marketing API, Insights "Asynchronous jobs") in plain words.
META_STATUS: Final[dict[str, Status]] = {
    "Job Not Started": "queued",
    "Job Started": "running",
    "Job Running": "running",
    "Job Completed": "done",
}


@contextmanager
def reporting(listener: Listener) -> Iterator[None]:
    """Send the progress of reports prepared inside this block to `listener`."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


async def report(percent: object, status: Status) -> None:
    """Tell the listener, if any, how far the provider is (percent clamped to 0-100)."""
    listener = _listener.get()
    if listener is None:
        return
    try:
        value = int(float(str(percent)))
    except ValueError:
        value = 0
    await listener(max(0, min(100, value)), status)
