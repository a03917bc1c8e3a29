"""The consent page and the authorization response (RFC 6749 §4.1, RFC 8252, RFC 9207)."""

from __future__ import annotations

import re

import httpx
import pytest

from backend.sandbox.config import ClientConfig, SandboxConfig
from tests.sandbox.conftest import REDIRECT, Sandbox, query_of, start
from tests.support.browser import play_consent, tls_context


def test_consent_page_names_the_app_the_person_and_the_scopes(sandbox: Sandbox) -> None:
    page = sandbox.http.get(sandbox.authorize_url(scope="ads_read ads_management"))
    assert page.status_code == 200
    text = page.text
    assert "Demo Ads" in text
    assert "Connected Accounts" in text
    assert "Dana Demo" in text
    assert "Sam Sample" in text
    assert "ads_read" in text
    assert "ads_management" in text
    assert "Allow" in text
    assert "Deny" in text
    assert "127.0.0.1:53682" in text  # where the browser will be sent


def test_consent_page_loads_nothing_from_elsewhere_and_cannot_be_framed(sandbox: Sandbox) -> None:
    page = sandbox.http.get(sandbox.authorize_url())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page.text)
    assert "<script" not in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"


def test_allow_redirects_with_code_state_and_issuer(sandbox: Sandbox) -> None:
    back = query_of(play_consent(sandbox.authorize_url(state="s t/ä?&=")))
    assert back["state"] == "s t/ä?&="  # returned unchanged
    assert back["code"].startswith("demo_ac_")
    assert back["iss"] == sandbox.url  # RFC 9207 §2


def test_deny_redirects_with_access_denied(sandbox: Sandbox) -> None:
    location = play_consent(sandbox.authorize_url(state="keep-me"), decision="deny")
    assert location.startswith(REDIRECT + "?")
    back = query_of(location)
    assert back["error"] == "access_denied"
    assert back["state"] == "keep-me"
    assert back["iss"] == sandbox.url
    assert "code" not in back
    assert sandbox.stats()["codes_issued"] == 0


def test_registered_query_on_redirect_uri_is_kept(sandbox: Sandbox) -> None:
    back = query_of(play_consent(sandbox.authorize_url(redirect_uri=REDIRECT + "?tab=2")))
    assert back["tab"] == "2"
    assert "code" in back


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:1/cb",
        "http://127.0.0.1:65535/callback",
        "http://[::1]:40000/callback",
        "http://localhost:8080/x",
    ],
)
def test_loopback_redirect_on_any_port_is_accepted(sandbox: Sandbox, redirect_uri: str) -> None:
    location = play_consent(sandbox.authorize_url(redirect_uri=redirect_uri))
    assert location.startswith(redirect_uri + "?")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://evil.example:53682/callback",
        "https://127.0.0.1:53682/callback",  # loopback is plain http (RFC 8252 §7.3)
        "http://127.0.0.1/callback",  # no port
        "http://127.0.0.1.evil.example:80/cb",
        "http://user@127.0.0.1:5000/cb",
        "http://127.0.0.1:5000/cb#frag",
        "myapp:/callback",
    ],
)
def test_unregistered_redirect_shows_an_error_page_and_never_redirects(
    sandbox: Sandbox, redirect_uri: str
) -> None:
    page = sandbox.http.get(sandbox.authorize_url(redirect_uri=redirect_uri))
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "not registered" in page.text
    assert "text/html" in page.headers["content-type"]


def test_missing_redirect_uri_shows_an_error_page(sandbox: Sandbox) -> None:
    page = sandbox.http.get(sandbox.authorize_url(redirect_uri=None))
    assert page.status_code == 400
    assert "location" not in page.headers


def test_unknown_client_shows_an_error_page_and_never_redirects(sandbox: Sandbox) -> None:
    page = sandbox.http.get(sandbox.authorize_url(client_id="someone-else"))
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "not registered with Demo Ads" in page.text


def test_exact_registered_uri_is_accepted_and_loopback_can_be_turned_off() -> None:
    relay = "https://backend.example/v1/flows/callback"
    client = ClientConfig(
        client_id="relay", client_secret="s", redirect_uris=[relay], allow_loopback=False
    )
    for box in start(SandboxConfig(clients=[client])):
        ok = play_consent(box.authorize_url(client_id="relay", redirect_uri=relay))
        assert ok.startswith(relay + "?code=")
        near = box.http.get(box.authorize_url(client_id="relay", redirect_uri=relay + "/"))
        assert near.status_code == 400  # exact match only (RFC 9700 §4.1.3)
        loop = box.http.get(box.authorize_url(client_id="relay", redirect_uri=REDIRECT))
        assert loop.status_code == 400


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),  # absent means plain (§4.3)
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"scope": "ads_read launch_missiles"}, "invalid_scope"),
    ],
)
def test_bad_requests_from_a_known_client_redirect_with_an_error(
    sandbox: Sandbox, overrides: dict[str, str | None], error: str
) -> None:
    resp = sandbox.http.get(sandbox.authorize_url(state="st-1", **overrides))
    assert resp.status_code == 303
    location = resp.headers["location"]
    assert location.startswith(REDIRECT + "?")
    back = query_of(location)
    assert back["error"] == error
    assert back["error_description"]
    assert back["state"] == "st-1"
    assert back["iss"] == sandbox.url


def test_repeated_parameter_is_refused(sandbox: Sandbox) -> None:
    url = sandbox.authorize_url() + "&client_id=demo-desktop"
    page = sandbox.http.get(url)
    assert page.status_code == 400
    assert "location" not in page.headers


def test_login_hint_preselects_the_person(sandbox: Sandbox) -> None:
    tokens = sandbox.redeem(*sandbox.code(login_hint="sam@demo-ads.example")).json()
    me = sandbox.api("/api/me", tokens["access_token"]).json()
    assert me["id"] == "user-1002"


def test_the_person_chosen_on_the_page_is_the_one_connected(sandbox: Sandbox) -> None:
    dana = sandbox.connect(user="Dana Demo")
    sam = sandbox.connect(user="user-1002")
    assert sandbox.api("/api/me", dana["access_token"]).json()["name"] == "Dana Demo"
    assert sandbox.api("/api/me", sam["access_token"]).json()["name"] == "Sam Sample"


def _open_form(sandbox: Sandbox, browser: httpx.Client) -> str:
    page = browser.get(sandbox.authorize_url())
    match = re.search(r'name="request_id" value="([^"]+)"', page.text)
    assert match is not None
    return match.group(1)


def test_consent_form_is_single_use(sandbox: Sandbox) -> None:
    with httpx.Client(base_url=sandbox.url, verify=tls_context()) as browser:
        request_id = _open_form(sandbox, browser)
        form = {"request_id": request_id, "decision": "allow", "user": "user-1001"}
        assert browser.post("/authorize", data=form).status_code == 303
        again = browser.post("/authorize", data=form)
    assert again.status_code == 400
    assert "location" not in again.headers
    assert sandbox.stats()["codes_issued"] == 1


def test_consent_form_posted_without_the_opening_browser_cookie_is_refused(
    sandbox: Sandbox,
) -> None:
    with httpx.Client(base_url=sandbox.url, verify=tls_context()) as victim:
        request_id = _open_form(sandbox, victim)
    with httpx.Client(
        base_url=sandbox.url, verify=tls_context()
    ) as attacker:  # another site forging the POST
        forged = attacker.post(
            "/authorize", data={"request_id": request_id, "decision": "allow", "user": "user-1001"}
        )
    assert forged.status_code == 400
    assert "location" not in forged.headers
    assert sandbox.stats()["codes_issued"] == 0


def test_made_up_request_id_is_refused(sandbox: Sandbox) -> None:
    forged = sandbox.http.post(
        "/authorize", data={"request_id": "guess", "decision": "allow", "user": "user-1001"}
    )
    assert forged.status_code == 400
    assert "location" not in forged.headers


def test_consent_page_expires(sandbox: Sandbox) -> None:
    with httpx.Client(base_url=sandbox.url, verify=tls_context()) as browser:
        request_id = _open_form(sandbox, browser)
        sandbox.clock.advance(sandbox.config.consent_lifetime + 1)
        late = browser.post(
            "/authorize", data={"request_id": request_id, "decision": "allow", "user": "user-1001"}
        )
    assert late.status_code == 400
    assert "expired" in late.text


def test_unknown_person_is_not_signed_in(sandbox: Sandbox) -> None:
    with httpx.Client(base_url=sandbox.url, verify=tls_context()) as browser:
        request_id = _open_form(sandbox, browser)
        resp = browser.post(
            "/authorize", data={"request_id": request_id, "decision": "allow", "user": "user-9"}
        )
    assert resp.status_code == 400
    assert sandbox.stats()["codes_issued"] == 0
