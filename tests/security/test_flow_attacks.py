"""Connect-flow attacks through the real API and a real Demo Ads sandbox.

Rules: RFC 6749 §10.12 (CSRF: state binds the answer to one flow of one user), RFC 9700 §4.4
(mix-up: a flow is bound to its provider and redirect URI), RFC 8252 §7.3/§8.3 (loopback IP
literal redirects only: no open redirect), RFC 7636 §4.2 / design rule "PKCE S256 only, never a
fallback to plain".
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.backend.api.conftest import (
    ApiBackend,
    complete,
    consent,
    count_connections,
    query_of,
    snapshot,
    start_flow,
)
from tests.backend.api.sandbox import stats
from tests.backend.conftest import SignedIn


def problem_code(resp: Any) -> str:
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.text
    return str(resp.json()["code"])


def test_csrf_state_of_another_flow_of_the_same_user_is_refused(
    backend: ApiBackend, user: SignedIn
) -> None:
    """RFC 6749 §10.12: each flow accepts only its own state; a real state of a sibling flow
    (as a forged redirect would carry) redeems nothing."""
    mine, sibling = start_flow(user), start_flow(user)
    back = consent(mine)
    before, redeemed = snapshot(backend), stats(backend)["token_requests"]
    resp = complete(user, mine, {**back, "state": sibling["state"]})
    assert resp.status_code in (400, 409, 422), resp.text
    assert stats(backend)["token_requests"] == redeemed
    assert count_connections(backend, user) == 0
    assert snapshot(backend)["connections"] == before["connections"]


def test_csrf_another_users_flow_and_state_are_not_found(
    backend: ApiBackend, user: SignedIn, other_user: SignedIn
) -> None:
    """A victim's flow id and its state, replayed by another signed-in user: 404, nothing
    redeemed, and the victim can still complete their own flow."""
    victim_flow = start_flow(user)
    back = consent(victim_flow)
    redeemed = stats(backend)["token_requests"]
    resp = other_user.client.post(f"/v1/flows/{victim_flow['flow_id']}/complete", json=back)
    assert resp.status_code == 404
    assert problem_code(resp) == "not_found"
    assert stats(backend)["token_requests"] == redeemed
    assert count_connections(backend, other_user) == 0
    # The attacker's own flow with the victim's state and code: refused, nothing redeemed.
    attacker_flow = start_flow(other_user)
    resp = complete(other_user, attacker_flow, back)
    assert resp.status_code in (400, 409, 422), resp.text
    assert stats(backend)["token_requests"] == redeemed
    assert complete(user, victim_flow, back).status_code == 200


def test_code_from_provider_a_completed_as_provider_b_connects_nothing(
    backend: ApiBackend, user: SignedIn
) -> None:
    """RFC 9700 §4.4 mix-up: a code obtained in a `demo` flow, handed to a `quiet` flow (with
    that flow's own state), is redeemed with the `quiet` flow's verifier, so the provider
    refuses it (RFC 7636 §4.6) and no connection appears; neither flow connects afterwards."""
    flow_a = start_flow(user, "demo")
    flow_b = start_flow(user, "quiet")
    back_a = consent(flow_a)
    resp = complete(user, flow_b, {"state": flow_b["state"], "code": back_a["code"]})
    assert resp.status_code in (409, 422), resp.text
    assert count_connections(backend, user) == 0
    assert "code" not in resp.text.lower().split("detail")[0]  # no code echoed in the problem
    assert back_a["code"] not in resp.text


def test_replayed_code_in_a_new_flow_is_not_redeemed_twice(
    backend: ApiBackend, user: SignedIn
) -> None:
    """RFC 6749 §4.1.2 / §10.5: a code used once is never accepted again, not even by a fresh
    flow of the same user — the sandbox sees one successful redemption."""
    flow = start_flow(user)
    back = consent(flow)
    assert complete(user, flow, back).status_code == 200
    redeemed = stats(backend)["codes_redeemed"]
    again = start_flow(user)
    resp = complete(user, again, {**back, "state": again["state"]})
    assert resp.status_code in (409, 422), resp.text
    assert stats(backend)["codes_redeemed"] == redeemed
    assert count_connections(backend, user) == 1


def test_never_a_plain_pkce_fallback(backend: ApiBackend, user: SignedIn) -> None:
    """design: PKCE S256 only; a client asking for `plain` is refused, not obliged."""
    resp = user.client.post(
        "/v1/flows",
        json={
            "provider": "demo",
            "redirect_uri": "http://127.0.0.1:5000/callback",
            "code_challenge_method": "plain",
        },
    )
    assert resp.status_code == 422
    for _ in range(3):
        params = query_of(start_flow(user)["authorization_url"])
        assert params["code_challenge_method"] == "S256"
        assert len(params["code_challenge"]) == 43


def browser_host(uri: str) -> str | None:
    """The host a browser would send the redirect to (WHATWG URL: `\\` counts as `/`)."""
    try:
        parts = urlsplit(uri.replace("\\", "/"))
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return None
    if parts.scheme.lower() != "http":
        return None
    return parts.hostname


def canonical(uri: str) -> bool:
    """Plainly fine: http, 127.0.0.1 or [::1], a real port, a plain path, no fragment."""
    return (
        re.fullmatch(r"http://(127\.0\.0\.1|\[::1\]):(53682|65535)(/callback|/)?(\?x=1)?", uri)
        is not None
    )


hosts = st.sampled_from(
    ["127.0.0.1", "[::1]", "localhost", "evil.example", "127.0.0.1.evil.example", "127.1",
     "0x7f000001", "2130706433", "[::ffff:127.0.0.1]", "127.0.0.1@evil.example",
     "evil.example@127.0.0.1", "127.0.0.1%2eevil.example", "0.0.0.0", "[::]"]
)  # fmt: skip
redirects = st.builds(
    lambda scheme, host, port, path, tail: f"{scheme}://{host}{port}{path}{tail}",
    st.sampled_from(["http", "https", "HTTP", "javascript", "file", "ftp"]),
    hosts,
    st.sampled_from(["", ":", ":0", ":53682", ":65535", ":65536", ":-1", ":8o"]),
    st.sampled_from(["/callback", "", "/", "//evil.example/", "/\\evil.example", "/%2f%2fevil"]),
    st.sampled_from(["", "?x=1", "#frag", "?next=https://evil.example", "\\@evil.example"]),
)


def test_open_redirect_attempts_are_refused_and_store_nothing(
    backend: ApiBackend, user: SignedIn
) -> None:
    """Hypothesis: a flow starts only for a redirect a browser would deliver to this device's
    loopback IP literal, and always for the plain forms; everything else is a 422 problem
    and stores nothing (no open redirect through redirect_uri)."""

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(uri=redirects)
    def probe(uri: str) -> None:
        before = snapshot(backend)["flows"]
        resp = user.client.post("/v1/flows", json={"provider": "demo", "redirect_uri": uri})
        if resp.status_code == 201:
            assert browser_host(uri) in ("127.0.0.1", "::1"), uri  # never an open redirect
            sent = query_of(resp.json()["authorization_url"])["redirect_uri"]
            assert sent == uri
        else:
            assert resp.status_code == 422, (uri, resp.text)
            assert problem_code(resp) == "invalid_request"
            assert snapshot(backend)["flows"] == before
            assert not canonical(uri), uri

    probe()
