"""desktop/api/loopback.py: what http.client does when another thread hangs up an answer being
read (the live updates' stop) reaches httpx as a read error, the one its callers handle."""

from __future__ import annotations

import http.client
from typing import Any

import httpx
import pytest

from desktop.api.loopback import _Body


class HungUp:
    """An http.client response closed by another thread mid-read: http.client's own
    `_close_conn` then finds `fp` gone (AttributeError), as seen when the window stopped its
    event stream."""

    def __init__(self, closed: bool) -> None:
        self.fp: Any = None if closed else object()
        self.closed = closed

    def read1(self, _n: int) -> bytes:
        raise AttributeError("'NoneType' object has no attribute 'close'")

    def isclosed(self) -> bool:
        return self.closed


def test_a_hung_up_answer_is_a_read_error() -> None:
    conn = http.client.HTTPConnection("127.0.0.1", 9)
    body = _Body(conn, HungUp(closed=True))  # type: ignore[arg-type]
    with pytest.raises(httpx.ReadError, match="hung up"):
        list(body)


def test_an_attribute_error_of_an_open_answer_is_a_bug_and_stays_one() -> None:
    conn = http.client.HTTPConnection("127.0.0.1", 9)
    body = _Body(conn, HungUp(closed=False))  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        list(body)
