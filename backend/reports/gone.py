"""Abandon a request's work when its client hangs up.

Starlette runs a plain endpoint to its end even after the client left, and a Meta async report
can poll for minutes: the Reports window's Cancel closes its connection, and the report must
stop with it. ASGI (HTTP connection scope): once the request body is read, the next `receive()`
is `http.disconnect`, which the server sends when the client closes the connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

import anyio
from starlette.requests import Request

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a report runs before its client's hang-up is watched for.
WATCH_AFTER_S = 0.1


async def until_gone(request: Request, work: Awaitable[T]) -> T | None:
    """`await work`, cancelled (None) if the client goes away first; its errors pass unchanged.

    The work runs in the request's own task. A watcher task joins it only once the work has
    taken WATCH_AFTER_S: most reports are done sooner, and a task per report showed in
    bench/backend_overhead.py. A client gone earlier is noticed then (its disconnect waits)."""
    loop = asyncio.get_running_loop()
    watcher: list[asyncio.Task[None]] = []
    with anyio.CancelScope() as scope:
        timer = loop.call_later(
            WATCH_AFTER_S, lambda: watcher.append(loop.create_task(_watch(request, scope)))
        )
        try:
            return await work
        finally:
            timer.cancel()
            for task in watcher:
                task.cancel()
    log.info("the client went away: its report was abandoned")
    return None


async def _watch(request: Request, scope: anyio.CancelScope) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
    scope.cancel()
