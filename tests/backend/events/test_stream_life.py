"""An open event stream's life: keep-alive comments, the idle tracker, the end of its access
token, its device signing out, and a server shutdown that an open stream must not hold up."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.backend.api.conftest import ApiBackend, ApiFactory
from tests.backend.conftest import sign_in
from tests.support.sse import EventReader

DEADLINE_S = 30.0


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)


@pytest.fixture
def quick(api_factory: ApiFactory, monkeypatch: pytest.MonkeyPatch) -> ApiBackend:
    """A backend whose streams send a keep-alive comment every 0.2 s."""
    monkeypatch.setenv("CONNECTED_ACCOUNTS_EVENTS_KEEPALIVE_S", "0.2")
    return api_factory()


def test_an_idle_stream_gets_keep_alive_comments_and_keeps_the_process_busy(
    quick: ApiBackend,
) -> None:
    user = sign_in(quick)
    activity = quick.state.activity
    with EventReader(quick.url, user.access_token) as stream:
        eventually(lambda: stream.comments.count("keep-alive") >= 2, "two keep-alive comments")
        assert stream.comments[0] == "connected"
        assert activity.idle_for() == 0.0  # an open stream is activity: no idle stop
        assert quick.state.events.open_streams == 1
    eventually(lambda: activity.idle_for() > 0.0, "the process idles once the stream closed")
    eventually(lambda: quick.state.events.open_streams == 0, "the subscription is dropped")


def test_the_stream_ends_when_its_access_token_expires(
    api_factory: ApiFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTED_ACCOUNTS_ACCESS_TOKEN_TTL_S", "2")
    short = api_factory()
    user = sign_in(short)
    with EventReader(short.url, user.access_token) as stream:
        assert stream.ended.wait(DEADLINE_S)
    assert stream.error is None
    assert "access token expired; reconnect with a fresh one" in stream.comments


def test_the_stream_ends_when_its_device_signs_out(quick: ApiBackend) -> None:
    user = sign_in(quick)
    with EventReader(quick.url, user.access_token) as stream:
        assert user.client.delete(f"/v1/auth/devices/{user.device_id}").status_code in (200, 204)
        assert stream.ended.wait(DEADLINE_S)
    assert "this device was signed out" in stream.comments


def test_a_server_shutdown_ends_open_streams_instead_of_waiting_for_them(
    api_factory: ApiFactory,
) -> None:
    server = api_factory()
    user = sign_in(server)
    stream = EventReader(server.url, user.access_token).start()
    server.server.stop()  # joins the server thread for at most 10 s
    assert not server.server._thread.is_alive()
    assert stream.ended.wait(DEADLINE_S)
    stream.close()
