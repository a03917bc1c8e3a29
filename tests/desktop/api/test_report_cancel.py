"""Cancel hangs up a report request for real: the server sees its client go away (ASGI
`http.disconnect`), over httpx's transport and over the local service's loopback transport.

The backend then stops preparing the report
(tests/backend/providers/reports/test_meta_report_progress.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from desktop.api.client import ApiClient
from desktop.api.errors import ApiError
from tests.support.servers import UvicornThread, serve


class Held:
    """An ASGI app whose report never answers: it waits until the client hangs up."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.gone = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.arrived.set()
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone.set()


class _Token:
    def access_token(self) -> str:
        return "test-token"

    def invalidate(self) -> None:
        pass


@pytest.fixture
def held() -> Iterator[tuple[Held, UvicornThread]]:
    app = Held()
    with serve(app) as server:
        yield app, server


@pytest.mark.parametrize("loopback", [False, True], ids=["httpx", "loopback"])
def test_cancel_hangs_up_the_report_request(
    held: tuple[Held, UvicornThread], loopback: bool
) -> None:
    app, server = held
    cancel = threading.Event()
    outcome: list[Any] = []
    with ApiClient(server.url, _Token(), timeout=60, loopback=loopback) as client:

        def fetch() -> None:
            try:
                outcome.append(
                    client.report("c1", account=None, since=None, until=None, cancel=cancel)
                )
            except ApiError as exc:
                outcome.append(exc)

        worker = threading.Thread(target=fetch, daemon=True)
        worker.start()
        assert app.arrived.wait(30)
        assert not app.gone.is_set()  # the request waits for its answer
        cancel.set()
        worker.join(30)
        assert not worker.is_alive()
        assert isinstance(outcome[0], ApiError)
        assert outcome[0].code == "cancelled"
        # The server learns it: the request's connection was closed by the client.
        assert app.gone.wait(30)
