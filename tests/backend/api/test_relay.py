"""Backend-relayed redirect: the provider returns to /v1/flows/callback, never the device."""

from __future__ import annotations

import httpx
import pytest

from tests.backend.api.conftest import (
    LOOPBACK,
    ApiFactory,
    complete,
    count_connections,
    query_of,
    snapshot,
    start_flow,
)
from tests.backend.api.sandbox import token_requests
from tests.backend.conftest import Backend, SignedIn, sign_in
from tests.support.browser import play_consent


@pytest.fixture(scope="module")
def relay_backend(api_factory: ApiFactory) -> Backend:
    """Demo Ads configured like Meta: `redirect = "backend"` (the relay)."""
    return api_factory(redirect="backend")


@pytest.fixture
def relay_user(relay_backend: Backend) -> SignedIn:
    return sign_in(relay_backend)


def test_relay_redeems_and_sends_the_browser_home_without_the_code(
    relay_backend: Backend, relay_user: SignedIn
) -> None:
    flow = start_flow(relay_user)
    sent = query_of(flow["authorization_url"])
    assert sent["redirect_uri"] == f"{relay_backend.url}/v1/flows/callback"
    at_backend = play_consent(flow["authorization_url"])
    assert at_backend.startswith(f"{relay_backend.url}/v1/flows/callback?")
    code = query_of(at_backend)["code"]
    resp = httpx.get(at_backend, follow_redirects=False, timeout=30)
    assert resp.status_code == 303
    home = resp.headers["location"]
    assert home.startswith(LOOPBACK + "?")
    back = query_of(home)
    ticket = back.pop("relay_ticket")
    assert back == {"state": flow["state"], "flow_id": flow["flow_id"], "result": "success"}
    assert len(ticket) >= 43  # 256 random bits, base64url
    assert code not in home
    # The grant is parked, nobody's yet: no connection until the owner's device claims it.
    assert count_connections(relay_backend, relay_user) == 0
    conn = complete(relay_user, flow, {"state": flow["state"], "relay_ticket": ticket})
    assert conn.status_code == 200, conn.text
    assert conn.json()["status"] == "connected"
    assert count_connections(relay_backend, relay_user) == 1


def test_relay_passes_a_declined_consent_on_in_words(
    relay_backend: Backend, relay_user: SignedIn
) -> None:
    flow = start_flow(relay_user)
    at_backend = play_consent(flow["authorization_url"], decision="deny")
    resp = httpx.get(at_backend, follow_redirects=False, timeout=30)
    assert resp.status_code == 303
    home = query_of(resp.headers["location"])
    assert home["result"] == "error"
    assert home["error"] == "access_denied"
    assert "declined" in home["error_description"]
    answer = complete(relay_user, flow, {"state": flow["state"]})
    assert answer.status_code == 422
    assert answer.json()["provider_error"] == "access_denied"
    assert count_connections(relay_backend, relay_user) == 0


def test_unknown_state_gets_an_error_page_never_a_redirect(relay_backend: Backend) -> None:
    before = snapshot(relay_backend)
    for query in ("state=made-up&code=abc", "code=abc", ""):
        resp = httpx.get(f"{relay_backend.url}/v1/flows/callback?{query}", timeout=30)
        assert resp.status_code == 400
        assert "location" not in resp.headers
        assert resp.headers["content-type"].startswith("text/html")
        assert resp.headers["cache-control"] == "no-store"
        assert "abc" not in resp.text
    assert snapshot(relay_backend) == before


def test_a_second_callback_is_answered_without_a_second_redemption(
    relay_backend: Backend, relay_user: SignedIn
) -> None:
    flow = start_flow(relay_user)
    at_backend = play_consent(flow["authorization_url"])
    assert httpx.get(at_backend, follow_redirects=False, timeout=30).status_code == 303
    grants = token_requests(relay_backend)
    before = snapshot(relay_backend)
    again = httpx.get(at_backend, follow_redirects=False, timeout=30)
    assert again.status_code == 409
    assert "location" not in again.headers
    assert token_requests(relay_backend) == grants
    assert snapshot(relay_backend) == before


def test_a_code_sent_from_the_device_for_a_relayed_flow_is_refused(
    relay_backend: Backend, relay_user: SignedIn
) -> None:
    flow = start_flow(relay_user)
    before = snapshot(relay_backend)
    resp = complete(relay_user, flow, {"state": flow["state"], "code": "device-side-code"})
    assert resp.status_code == 422
    assert snapshot(relay_backend) == before
