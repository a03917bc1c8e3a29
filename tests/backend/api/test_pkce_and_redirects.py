"""PKCE (RFC 7636) values and the loopback redirect rule (RFC 8252 §7.3), without a server."""

from __future__ import annotations

import base64
import re

import pytest

from backend.errors import InvalidRequest
from backend.flows import pkce
from backend.flows.redirects import check_loopback_redirect

# RFC 7636 Appendix B: the verifier's 32 octets, the verifier and its S256 challenge.
APPENDIX_B_OCTETS = bytes(
    [116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186,
     22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121]
)  # fmt: skip
APPENDIX_B_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
APPENDIX_B_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_s256_challenge_matches_rfc7636_appendix_b() -> None:
    assert pkce.b64url(APPENDIX_B_OCTETS) == APPENDIX_B_VERIFIER
    assert pkce.s256_challenge(APPENDIX_B_VERIFIER) == APPENDIX_B_CHALLENGE


def test_verifier_is_32_random_octets_base64url() -> None:
    verifiers = {pkce.new_verifier().reveal() for _ in range(50)}
    assert len(verifiers) == 50
    for v in verifiers:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", v)
        assert len(base64.urlsafe_b64decode(v + "=")) == 32


def test_verifier_never_shows_in_repr() -> None:
    v = pkce.new_verifier()
    assert v.reveal() not in repr(v)
    assert v.reveal() not in f"{v}"


def test_state_carries_at_least_128_bits_and_is_compared_by_hash() -> None:
    state = pkce.new_state()
    assert len(base64.urlsafe_b64decode(state + "=" * (-len(state) % 4))) >= 16
    stored = pkce.hash_state(state)
    assert state not in stored
    assert pkce.state_matches(state, stored)
    assert not pkce.state_matches(state + "x", stored)
    assert not pkce.state_matches(pkce.new_state(), stored)


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:49152/callback",
        "http://127.0.0.1:8080/",
        "http://[::1]:49152/callback",
        "http://127.0.0.1:1/cb?x=1",
    ],
)
def test_loopback_ip_literal_redirects_are_accepted(uri: str) -> None:
    assert check_loopback_redirect(uri) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/callback",
        "http://evil.example:80/callback",
        "http://localhost:49152/callback",  # RFC 8252 §8.3: not recommended, may resolve away
        "https://127.0.0.1:49152/callback",
        "http://127.0.0.1/callback",  # no port
        "http://127.0.0.1:49152/callback#frag",
        "http://user@127.0.0.1:49152/callback",
        "http://127.0.0.2:49152/callback",
        "http://127.0.0.1.evil.example:49152/callback",
        "http://[::2]:49152/callback",
        "javascript:alert(1)",
        "http://127.0.0.1:99999/callback",
        "",
    ],
)
def test_anything_but_a_loopback_redirect_is_refused(uri: str) -> None:
    with pytest.raises(InvalidRequest, match="loopback"):
        check_loopback_redirect(uri)


def test_request_bodies_never_show_codes_or_tokens_in_repr() -> None:
    from backend.connections.schemas import ImportRequest
    from backend.flows.schemas import FlowComplete, FlowCreated

    complete = FlowComplete(state="st-secret", code="code-secret", iss="https://x")
    created = FlowCreated(
        flow_id="f",
        authorization_url="https://x/?state=st-secret",
        state="st-secret",
        expires_at="z",
    )
    imported = ImportRequest(provider="demo", refresh_token="rt-secret")
    for text in (repr(complete), str(complete), repr(created), repr(imported), str(imported)):
        assert "secret" not in text
