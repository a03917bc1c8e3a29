"""ApiClient, Session and run_connect against a real HTTP server speaking the backend's contract."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from desktop.account.secure_store import MemoryStore
from desktop.account.session import Session
from desktop.api.client import ApiClient
from desktop.api.errors import ApiError
from desktop.connect.flow import ConnectRefused, run_connect
from desktop.connect.loopback import ReceiverCancelled, ReceiverTimeout
from tests.desktop.support.fake_backend import FakeState, create_fake_backend
from tests.support.servers import serve

PASSWORD = "correct horse"


@pytest.fixture
def fake() -> Iterator[tuple[FakeState, str]]:
    state = FakeState(password=PASSWORD)
    with serve(create_fake_backend(state)) as server:
        state.base_url = server.url
        yield state, server.url


@pytest.fixture
def signed_in(fake: tuple[FakeState, str]) -> Iterator[tuple[FakeState, Session, ApiClient]]:
    state, url = fake
    session = Session(url, MemoryStore("test"))
    session.login("dana@example.com", PASSWORD, "test device")
    client = ApiClient(url, session)
    yield state, session, client
    client.close()
    session.close()


def test_login_then_calls_carry_the_access_token(
    signed_in: tuple[FakeState, Session, ApiClient],
) -> None:
    state, session, client = signed_in
    assert session.signed_in
    assert session.user_email == "dana@example.com"
    assert session.storage == "memory only"
    assert client.connections()[0].provider == "demo"
    assert state.assertions == []  # the login token is still fresh: no renewal yet


def test_wrong_password_is_plain_words(fake: tuple[FakeState, str]) -> None:
    _, url = fake
    session = Session(url, MemoryStore("test"))
    with pytest.raises(ApiError) as caught:
        session.login("dana@example.com", "nope", "test device")
    assert caught.value.code == "unauthorized"
    assert str(caught.value) == "Wrong email or password."
    assert not session.signed_in


def test_a_401_renews_once_by_device_assertion_and_retries(
    signed_in: tuple[FakeState, Session, ApiClient],
) -> None:
    state, session, client = signed_in
    state.reject_next_token = True
    assert len(client.connections()) == 1
    assert len(state.assertions) == 1
    claims = state.assertions[0]
    assert claims["iss"] == claims["sub"] == session.device_id
    assert claims["aud"] == f"{state.base_url}/v1/auth/token"


def test_restore_signs_in_silently_from_the_store(fake: tuple[FakeState, str]) -> None:
    state, url = fake
    store = MemoryStore("test")
    first = Session(url, store)
    first.login("dana@example.com", PASSWORD, "test device")
    first.close()
    second = Session(url, store)
    assert second.restore() is True
    # The stored token is opaque here (no readable exp), so restore renews with the device key.
    assert len(state.assertions) == 1
    assert second.user_email == "dana@example.com"
    second.invalidate()
    with ApiClient(url, second) as client:
        assert client.connections()
    assert len(state.assertions) == 2
    second.close()


def test_signed_out_device_cannot_restore_and_the_store_is_wiped(
    fake: tuple[FakeState, str],
) -> None:
    state, url = fake
    store = MemoryStore("test")
    session = Session(url, store)
    session.login("dana@example.com", PASSWORD, "test device")
    assert session.device_id is not None
    state.devices[session.device_id]["revoked"] = True
    session.invalidate()
    with pytest.raises(ApiError) as caught:
        session.access_token()
    assert caught.value.code == "unauthorized"
    assert store.load(url) is None
    assert Session(url, store).restore() is False


def test_logout_signs_the_device_out_and_wipes_the_store(fake: tuple[FakeState, str]) -> None:
    state, url = fake
    store = MemoryStore("test")
    session = Session(url, store)
    session.login("dana@example.com", PASSWORD, "test device")
    device_id = session.device_id
    assert device_id is not None
    session.logout()
    assert state.devices[device_id]["revoked"] is True
    assert store.load(url) is None
    assert not session.signed_in


def test_no_session_means_sign_in_needed(fake: tuple[FakeState, str]) -> None:
    _, url = fake
    with ApiClient(url, Session(url, MemoryStore("test"))) as client, pytest.raises(ApiError) as e:
        client.connections()
    assert e.value.code == "unauthorized"


def test_problem_codes_details_and_retry_after(
    signed_in: tuple[FakeState, Session, ApiClient],
) -> None:
    _, _, client = signed_in
    with pytest.raises(ApiError) as gone:
        client.connection("gone")
    assert (gone.value.code, gone.value.status) == ("needs_reconnect", 409)
    assert str(gone.value) == "Demo Ads says this grant was revoked."
    with pytest.raises(ApiError) as busy:
        client.connection("busy")
    assert busy.value.code == "provider_unavailable"
    assert busy.value.retry_after == 7.0
    with pytest.raises(ApiError) as crash:
        client.connection("other")
    assert crash.value.code == "bad_response"
    assert crash.value.status == 500
    with pytest.raises(ApiError) as garbage:
        client.providers()  # 200 with an HTML body
    assert garbage.value.code == "bad_response"


def test_unreachable_backend_is_a_network_error() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with ApiClient(f"http://127.0.0.1:{port}") as client, pytest.raises(ApiError) as caught:
        client.health()
    assert caught.value.code == "network"
    assert f"127.0.0.1:{port}" in str(caught.value)


def test_report_streams_and_sends_the_query(
    signed_in: tuple[FakeState, Session, ApiClient],
) -> None:
    _, _, client = signed_in
    report = client.report(
        "c1", account="act_1", since=date(2026, 11, 1), until=date(2026, 11, 3),
        level="campaign", metrics=["clicks", "spend"], cancel=threading.Event(),
    )  # fmt: skip
    assert len(report["rows"]) == 3
    query = parse_qs(report["query"])
    assert query == {
        "since": ["2026-11-01"], "until": ["2026-11-03"], "level": ["campaign"],
        "account": ["act_1"], "metrics": ["clicks,spend"],
    }  # fmt: skip


def test_report_cancel_returns_at_once_while_the_backend_is_slow(
    signed_in: tuple[FakeState, Session, ApiClient],
) -> None:
    state, _, client = signed_in
    state.slow_report = 600.0  # the backend would answer in ten minutes
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(ApiError) as caught:
        client.report("c1", account=None, since=date(2026, 11, 1), until=date(2026, 11, 1),
                      cancel=cancel)  # fmt: skip
    assert caught.value.code == "cancelled"
    assert time.monotonic() - started < 30  # at the cancel, not at the answer
    state.release.set()


def test_connect_completes_with_code_state_and_iss(
    signed_in: tuple[FakeState, Session, ApiClient],
) -> None:
    state, _, client = signed_in
    statuses: list[int] = []
    bodies: list[str] = []

    def open_browser(url: str) -> object:
        flow = next(iter(state.flows.values()))
        # The receiver already listens when the browser opens (RFC 8252 §7.3).
        socket.create_connection(("127.0.0.1", urlsplit(flow["redirect_uri"]).port)).close()
        assert parse_qs(urlsplit(url).query)["state"] == [flow["state"]]

        def browser() -> None:
            target = f"{flow['redirect_uri']}?code=the-code&state={flow['state']}&iss=https://idp"
            first = httpx.get(target)
            statuses.append(first.status_code)
            bodies.append(first.text)

        browsing.append(threading.Thread(target=browser))
        browsing[-1].start()
        return None

    browsing: list[threading.Thread] = []
    urls: list[str] = []
    connection = run_connect(client, "demo", open_browser=open_browser, on_url=urls.append)
    assert connection.display_name == "Dana Demo"
    assert urls[0].startswith("https://idp.example/authorize")
    flow = next(iter(state.flows.values()))
    assert flow["provider"] == "demo"
    assert flow["redirect_uri"].startswith("http://127.0.0.1:")
    assert state.completions == [{"state": flow["state"], "code": "the-code", "iss": "https://idp"}]
    # The receiver answers the browser as it hands the code over: run_connect may return before
    # the browser has read that page.
    browsing[0].join(timeout=10)
    assert statuses == [200]
    assert "the-code" not in bodies[0]


def test_connect_refused_still_closes_the_flow_at_the_backend(
    signed_in: tuple[FakeState, Session, ApiClient],
) -> None:
    state, _, client = signed_in

    def open_browser(url: str) -> object:
        flow = next(iter(state.flows.values()))
        target = f"{flow['redirect_uri']}?error=access_denied&state={flow['state']}"
        threading.Thread(target=httpx.get, args=(target,)).start()
        return None

    with pytest.raises(ConnectRefused) as caught:
        run_connect(client, "demo", open_browser=open_browser)
    assert caught.value.error == "access_denied"
    assert "did not allow access" in str(caught.value)
    assert state.completions[0]["error"] == "access_denied"
    assert "code" not in state.completions[0]


def test_connect_cancel_and_timeout(signed_in: tuple[FakeState, Session, ApiClient]) -> None:
    _, _, client = signed_in
    cancel = threading.Event()
    with pytest.raises(ReceiverCancelled):
        run_connect(client, "demo", open_browser=lambda _url: cancel.set(), cancel=cancel)
    with pytest.raises(ReceiverTimeout):
        run_connect(client, "demo", open_browser=lambda _url: None, timeout=0.3)


def test_relayed_connect_claims_the_grant_with_state_and_ticket(
    signed_in: tuple[FakeState, Session, ApiClient],
) -> None:
    state, _, client = signed_in

    def open_browser(url: str) -> object:
        flow_id, flow = next(iter(state.flows.items()))
        # The backend redeemed the code itself, parked the grant and sends the browser on
        # with a one-time ticket instead of the code.
        target = (
            f"{flow['redirect_uri']}?state={flow['state']}&flow_id={flow_id}&result=success"
            "&relay_ticket=the-ticket"
        )
        threading.Thread(target=httpx.get, args=(target,)).start()
        return None

    connection = run_connect(client, "meta", open_browser=open_browser)
    assert connection.status == "connected"
    flow = next(iter(state.flows.values()))
    assert state.completions == [{"state": flow["state"], "relay_ticket": "the-ticket"}]
