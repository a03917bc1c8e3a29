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


async def until_gone(request: Request, work: Awaitable[T]) -> T | None:
    """`await work`, cancelled (None) if the client goes away first; its errors pass unchanged.

    The work runs in the request's own task, with one watcher task beside it (a task group of
    two cost a task more per report; bench/backend_overhead.py)."""
    with anyio.CancelScope() as scope:
        watcher = asyncio.get_running_loop().create_task(_watch(request, scope))
        try:
            return await work
        finally:
            watcher.cancel()
    log.info("the client went away: its report was abandoned")
    return None


async def _watch(request: Request, scope: anyio.CancelScope) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
    scope.cancel()
