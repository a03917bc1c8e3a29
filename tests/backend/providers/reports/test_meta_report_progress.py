"""A Meta async report run's progress reaches the owner's event stream (`report_progress`), and a
client that hangs up abandons the run: the backend stops polling it.

Follows Marketing API "Insights API -> Asynchronous jobs" (AdReportRun `async_status`,
`async_percent_completion`; Meta documents no way to cancel a run) through tests/fakes/meta.py,
and ASGI's `http.disconnect` for a client that closes its connection.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.backend.conftest import Backend, BackendFactory, SignedIn, sign_in
from tests.backend.providers.test_platforms_in_backend import FAST, connect_relayed
from tests.fakes.meta import MetaState, create_meta_app
from tests.support.servers import serve
from tests.support.sse import EventReader

RANGE = {"since": "2026-11-01", "until": "2026-11-02"}


@pytest.fixture
def meta(
    backend_factory: BackendFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[MetaState, Backend]]:
    state = MetaState()
    monkeypatch.setenv("META_SECRET", state.app_secret)
    with serve(create_meta_app(state)) as server:
        backend = backend_factory(
            toml=f"""
[providers.meta]
preset = "meta"
client_id = "{state.app_id}"
client_secret_env = "META_SECRET"
authorization_endpoint = "{server.url}/v23.0/dialog/oauth"
reports = {{ base_url = "{server.url}/v23.0", async_rows = 1, poll_interval_s = 0.02 }}
{FAST}
""",
            sandbox=False,
        )
        yield state, backend


def progress_of(conn_id: str) -> Any:
    return lambda e: e["kind"] == "report_progress" and e["connection_id"] == conn_id


def test_an_async_report_run_announces_its_progress_on_the_event_stream(
    meta: tuple[MetaState, Backend],
) -> None:
    state, backend = meta
    user: SignedIn = sign_in(backend)
    with user.client as api:
        conn = connect_relayed(api, backend, "meta")
        with EventReader(backend.url, user.access_token) as stream:
            assert stream.opened.wait(30)
            report = api.get(f"/v1/connections/{conn['id']}/reports", params=RANGE)
            assert report.status_code == 200, report.text
            seen = stream.wait_for(lambda e: progress_of(conn["id"])(e) and e["percent"] == 100)
    assert len(state.runs) == 1  # the report went the asynchronous way
    progress = [e for e in seen if progress_of(conn["id"])(e)]
    # The fake's run: not started 0 %, running 50 %, completed 100 %.
    assert [(e["percent"], e["status"]) for e in progress] == [
        (0, "queued"),
        (50, "running"),
        (100, "done"),
    ]
    assert set(progress[0]) == {"id", "kind", "connection_id", "percent", "status", "at"}
    # No token, code or secret travels with the progress.
    text = "\n".join(stream.raw)
    for secret in [t for t in state.tokens] + [state.app_secret]:
        assert secret not in text


def test_a_client_that_hangs_up_abandons_the_run(meta: tuple[MetaState, Backend]) -> None:
    state, backend = meta
    state.hold_runs = True  # the run never finishes by itself
    user: SignedIn = sign_in(backend)
    with user.client as api:
        conn = connect_relayed(api, backend, "meta")
        with EventReader(backend.url, user.access_token) as stream:
            assert stream.opened.wait(30)
            url = urlsplit(backend.url)
            client = socket.create_connection((url.hostname or "", url.port or 80), timeout=30)
            query = "&".join(f"{k}={v}" for k, v in RANGE.items())
            client.sendall(
                f"GET /v1/connections/{conn['id']}/reports?{query} HTTP/1.1\r\n"
                f"Host: {url.netloc}\r\nAuthorization: Bearer {user.access_token}\r\n\r\n".encode()
            )
            # Polling has begun: the run is running, and says so on the stream.
            stream.wait_for(lambda e: progress_of(conn["id"])(e) and e["percent"] >= 20)
            client.shutdown(socket.SHUT_RDWR)  # the window's Cancel hangs up like this
            client.close()
            run = next(iter(state.runs.values()))
            # Eventually no more polls: the count holds still over many poll intervals.
            deadline = time.monotonic() + 30
            while True:
                before = run["polls"]
                time.sleep(0.5)  # 25 poll intervals
                if run["polls"] == before:
                    break
                assert time.monotonic() < deadline, "the backend kept polling the run"
        # The report slot was given back: the next report of this user runs (and polls again).
        state.hold_runs = False
        again = api.get(f"/v1/connections/{conn['id']}/reports", params=RANGE)
        assert again.status_code == 200, again.text
