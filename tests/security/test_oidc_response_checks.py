"""Authorization responses and id_tokens are checked, whatever the scheme of the endpoints.

Rules: RFC 9207 §2.4 / §3 — where the provider advertises
`authorization_response_iss_parameter_supported` (discovery), a response without `iss` is
refused; where it does not, one without `iss` is accepted. OIDC Core §3.1.3.7 — the id_token's
signature is verified against the provider's JWKS (here over plain http on loopback, so TLS
cannot stand in for it): a bad signature, a key the provider does not publish, `alg: none`
and HS256 are refused; a key the provider rotated in is fetched once and accepted.
Against a real `serve` process and the fake OIDC provider (tests/fakes/idp.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.idp import Client, IdpState, create_idp_app
from tests.security.relay_world import World, query_of, relay_world
from tests.support.servers import UvicornThread

EMAIL = "oidc@example.test"


@dataclass
class Oidc:
    world: World
    url: str
    strict: tuple[UvicornThread, IdpState]  # advertises iss in responses
    lax: tuple[UvicornThread, IdpState]  # does not


def _idp(advertise_iss: bool) -> tuple[UvicornThread, IdpState]:
    state = IdpState(clients={"acme-app": Client("acme-secret")}, advertise_iss=advertise_iss)
    return UvicornThread(create_idp_app(state)).start(), state


def _table(provider_id: str, server: UvicornThread) -> str:
    return f"""
[providers.{provider_id}]
preset = "oauth2"
display_name = "{provider_id.title()} ID"
issuer = "{server.url}"
client_id = "acme-app"
client_secret = "acme-secret"
scopes = ["openid", "offline_access"]
retry_attempts = 1
"""


@pytest.fixture(scope="module")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Oidc]:
    tmp = tmp_path_factory.mktemp("oidc")
    strict, lax = _idp(True), _idp(False)
    try:
        with relay_world(tmp, f"sqlite:///{tmp / 'backend.sqlite3'}") as world:
            # Discovery at start-up reads each provider's metadata (RFC 8414).
            extra = _table("strict", strict[0]) + _table("lax", lax[0])
            config = Path(world.common[world.common.index("--config") + 1])
            config.write_text(config.read_text() + extra)
            world.create_user(EMAIL)
            yield Oidc(world, world.serve(), strict, lax)
    finally:
        strict[0].stop()
        lax[0].stop()


def _flow(oidc: Oidc, provider: str) -> tuple[Any, dict[str, Any], dict[str, str]]:
    """Start a flow and play the provider's (consent-free) authorization step."""
    device = oidc.world.device(oidc.url, EMAIL)
    flow = device.start_flow(provider)
    answer = httpx.get(flow["authorization_url"], follow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return device, flow, query_of(answer.headers["location"])


def test_a_response_without_iss_is_refused_where_the_provider_advertises_it(
    oidc: Oidc,
) -> None:
    _, idp = oidc.strict
    device, flow, back = _flow(oidc, "strict")
    assert back["iss"] == oidc.strict[0].url
    redeemed = len(idp.token_requests)
    del back["iss"]  # as a mix-up attacker's forged response would lack it
    refused = device.complete(flow["flow_id"], back)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["provider_error"] == "invalid_issuer"
    assert "lacks the 'iss' parameter" in problem["detail"]
    assert "nothing was connected" in problem["detail"]
    assert len(idp.token_requests) == redeemed  # the code was never sent anywhere
    assert device.connections() == []


def test_a_response_without_iss_is_accepted_where_the_provider_does_not_advertise_it(
    oidc: Oidc,
) -> None:
    device, flow, back = _flow(oidc, "lax")
    del back["iss"]
    done = device.complete(flow["flow_id"], back)
    assert done.status_code == 200, done.text
    assert done.json()["display_name"] == "Ada Admin"


def test_a_response_naming_another_issuer_is_refused_even_where_not_advertised(
    oidc: Oidc,
) -> None:
    device, flow, back = _flow(oidc, "lax")
    refused = device.complete(flow["flow_id"], {**back, "iss": "https://evil.example"})
    assert refused.status_code == 422
    assert refused.json()["provider_error"] == "invalid_issuer"


@pytest.mark.parametrize(
    ("signing", "words"),
    [
        ("bad_signature", "signature does not check out"),
        ("unknown_kid", "a key it does not publish"),
        ("none", "unsigned or signed in a way we do not accept"),
        ("hs256", "unsigned or signed in a way we do not accept"),
    ],
)
def test_an_id_token_that_fails_its_signature_check_is_refused(
    oidc: Oidc, signing: Any, words: str
) -> None:
    _, idp = oidc.strict
    issued = set(idp.refresh_tokens)
    idp.id_token_signing = signing
    try:
        device, flow, back = _flow(oidc, "strict")
        before = device.connections()
        refused = device.complete(flow["flow_id"], back)
    finally:
        idp.id_token_signing = "good"
    assert refused.status_code == 422, refused.text
    assert words in refused.json()["detail"]
    assert "nothing was connected" in refused.json()["detail"].lower()
    assert device.connections() == before
    # The grant the provider issued is not left alive (revoked right away).
    fresh = [grant for token, (grant, _) in idp.refresh_tokens.items() if token not in issued]
    assert len(fresh) == 1
    assert not fresh[0].active


def test_a_rotated_signing_key_is_fetched_once_and_accepted(oidc: Oidc) -> None:
    _, idp = oidc.strict
    first = _flow(oidc, "strict")
    assert first[0].complete(first[1]["flow_id"], first[2]).status_code == 200
    reads = idp.keys.jwks_reads
    idp.keys.rotate()
    device, flow, back = _flow(oidc, "strict")
    done = device.complete(flow["flow_id"], back)
    assert done.status_code == 200, done.text
    assert idp.keys.jwks_reads == reads + 1
