"""The providers inside the real backend: config from TOML, connect, report, disconnect.

Generic OAuth 2.0 (loopback redirect, discovery at start-up) and Meta (backend-relayed
redirect) against the fake servers, through the backend's HTTP API only.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.backend.conftest import BackendFactory, SignedIn, sign_in
from tests.fakes.idp import Client, IdpState, create_idp_app
from tests.fakes.meta import MetaState, create_meta_app
from tests.support.servers import UvicornThread, serve

LOOPBACK = "http://127.0.0.1:53999/callback"


@pytest.fixture
def fakes() -> Iterator[tuple[UvicornThread, IdpState, UvicornThread, MetaState]]:
    idp_state = IdpState(clients={"acme-app": Client("acme-secret", "client_secret_basic")})
    meta_state = MetaState()
    with serve(create_idp_app(idp_state)) as idp, serve(create_meta_app(meta_state)) as meta:
        yield idp, idp_state, meta, meta_state


def toml(idp: UvicornThread, meta: UvicornThread) -> str:
    return f"""
[providers.acme]
preset = "oauth2"
display_name = "Acme ID"
issuer = "{idp.url}"
client_id = "acme-app"
client_secret_env = "ACME_CLIENT_SECRET"
scopes = ["openid", "ads_read"]
retry_base_delay_s = 0.001

[providers.meta]
preset = "meta"
client_id = "1234567890"
client_secret_env = "META_CLIENT_SECRET"
authorization_endpoint = "{meta.url}/v23.0/dialog/oauth"
reports = {{ base_url = "{meta.url}/v23.0", page_size = 3 }}
retry_base_delay_s = 0.001
"""


def params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_providers_from_toml_connect_report_and_disconnect(
    backend_factory: BackendFactory,
    fakes: tuple[UvicornThread, IdpState, UvicornThread, MetaState],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    idp, _, meta, meta_state = fakes
    monkeypatch.setenv("ACME_CLIENT_SECRET", "acme-secret")
    monkeypatch.setenv("META_CLIENT_SECRET", meta_state.app_secret)
    backend = backend_factory(toml=toml(idp, meta), sandbox=False)
    user: SignedIn = sign_in(backend)
    with user.client as api:
        listed = api.get("/v1/providers").json()
        assert {p["id"]: (p["kind"], p["redirect"]) for p in listed} == {
            "acme": ("oauth2", "loopback"),
            "meta": ("meta", "backend"),
        }

        # Generic OAuth 2.0: loopback redirect, identity from the id_token.
        flow = api.post("/v1/flows", json={"provider": "acme", "redirect_uri": LOOPBACK}).json()
        back = params(httpx.get(flow["authorization_url"]).headers["location"])
        done = api.post(
            f"/v1/flows/{flow['flow_id']}/complete",
            json={"state": back["state"], "code": back["code"], "iss": back["iss"]},
        )
        assert done.status_code == 200, done.text
        assert done.json()["display_name"] == "Ada Admin"

        # Meta: the dialog returns to the backend, which redeems and sends the browser on.
        flow = api.post("/v1/flows", json={"provider": "meta", "redirect_uri": LOOPBACK}).json()
        assert params(flow["authorization_url"])["redirect_uri"] == (
            f"{backend.url}/v1/flows/callback"
        )
        relay = httpx.get(flow["authorization_url"]).headers["location"]
        to_device = httpx.get(relay.split("#")[0]).headers["location"]
        assert to_device.startswith(LOOPBACK)
        outcome = params(to_device)
        assert outcome["result"] == "success"
        assert "code" not in outcome
        claim = {"state": outcome["state"], "relay_ticket": outcome["relay_ticket"]}
        conn = api.post(f"/v1/flows/{outcome['flow_id']}/complete", json=claim).json()
        assert conn["provider"] == "meta"
        assert conn["expires_at"] is not None  # from debug_token
        assert [a["id"] for a in conn["accounts"]][:2] == ["act_1000", "act_1001"]

        report = api.get(
            f"/v1/connections/{conn['id']}/reports",
            params={
                "account": "act_1001",
                "since": "2026-11-01",
                "until": "2026-11-05",
                "level": "campaign",
            },
        )
        assert report.status_code == 200, report.text
        body = report.json()
        assert body["account"]["currency"] == "JPY"
        assert len(body["rows"]) == 15  # five days x three campaigns, five pages of three
        assert all("." not in r[5] for r in body["rows"])  # yen: no minor unit
        assert body["totals"]["impressions"] == sum(r[3] for r in body["rows"])

        gone = api.delete(f"/v1/connections/{conn['id']}")
        assert gone.status_code == 200, gone.text
        assert gone.json()["revoked"]
        assert not any(t.valid for t in meta_state.tokens.values())
