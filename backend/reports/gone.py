"""Abandon a request's work when its client hangs up.

Starlette runs a plain endpoint to its end even after the client left, and a Meta async report
can poll for minutes: the Reports window's Cancel closes its connection, and the report must
stop with it. ASGI (HTTP connection scope): once the request body is read, the next `receive()`
is `http.disconnect`, which the server sends when the client closes the connection.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

import anyio
from starlette.requests import Request

log = logging.getLogger(__name__)

T = TypeVar("T")


async def until_gone(request: Request, work: Awaitable[T]) -> T | None:
    """`await work`, cancelled (None) if the client goes away first; its errors pass unchanged."""
    done: list[T] = []
    failed: list[Exception] = []
    gone = False
    async with anyio.create_task_group() as group:

        async def run() -> None:
            try:
                done.append(await work)
            except Exception as exc:  # re-raised below, not wrapped in an exception group
                failed.append(exc)
            finally:
                group.cancel_scope.cancel()

        async def watch() -> None:
            nonlocal gone
            while (await request.receive())["type"] != "http.disconnect":
                pass
            gone = True
            group.cancel_scope.cancel()

        group.start_soon(watch)
        group.start_soon(run)
    if failed:
        raise failed[0]
    if gone and not done:
        log.info("the client went away: its report was abandoned")
        return None
    return done[0]
